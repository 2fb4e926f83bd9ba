"""tests/zarr_copy.py - copy .h5ad files element by element into Zarr v2
stores, keeping each encoding exactly as it is (anndata's own writer would
normalise them): groups, arrays, attributes and chunk shapes as in the HDF5
file, values through Blosc.

    python3 tests/zarr_copy.py INDIR OUTDIR

INDIR/NAME.h5ad -> OUTDIR/NAME.zarr, with the .h5ad's mtime. Variable-length
strings become vlen-utf8 object arrays, or vlen-bytes when they are not
UTF-8 (HDF5 allows any bytes). What Zarr cannot hold - compound datasets
(the pre-0.7 layout), object references, names longer than a directory
entry, names that are not text - leaves a file out; its name is printed
on stdout, one a line.
"""
import os
import shutil
import sys
import warnings

import h5py
import numcodecs
import numpy as np
import zarr

warnings.simplefilter("ignore")


class Inexpressible(Exception):
    pass


def attr_value(v):
    if isinstance(v, h5py.Reference) or (isinstance(v, np.ndarray) and v.dtype.kind == "O" and v.size
                                         and isinstance(v.flat[0], h5py.Reference)):
        raise Inexpressible("object reference")
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, np.ndarray):
        return [attr_value(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


def copy_dataset(d, group, name):
    if d.dtype.names:
        raise Inexpressible("compound dataset " + d.name)
    if d.dtype.kind == "O" and not h5py.check_string_dtype(d.dtype):
        raise Inexpressible("object dataset " + d.name)
    kw = dict(chunks=d.chunks if d.chunks else True, compressor=numcodecs.Blosc("lz4", 5, 1))
    if h5py.check_string_dtype(d.dtype) and h5py.check_string_dtype(d.dtype).length is None:
        raw = np.asarray(d[()], dtype=object)
        try:
            data = np.array([x.decode("utf-8") if isinstance(x, bytes) else x for x in raw.reshape(-1)],
                            dtype=object).reshape(raw.shape)
            kw["object_codec"] = numcodecs.VLenUTF8()
        except UnicodeDecodeError:
            data = np.array([x if isinstance(x, bytes) else x.encode() for x in raw.reshape(-1)],
                            dtype=object).reshape(raw.shape)
            kw["object_codec"] = numcodecs.VLenBytes()
        kw["dtype"] = object
    else:
        data = np.asarray(d[()])
    if data.ndim == 0:
        kw.pop("chunks")
    z = group.create_dataset(name, data=data, **kw)
    z.attrs.update({k: attr_value(v) for k, v in d.attrs.items()})


def copy_group(h, group):
    group.attrs.update({k: attr_value(v) for k, v in h.attrs.items()})
    for name, item in h.items():
        if isinstance(item, h5py.Group):
            copy_group(item, group.create_group(name))
        else:
            copy_dataset(item, group, name)


def main():
    src, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    for f in sorted(os.listdir(src)):
        if not f.endswith(".h5ad"):
            continue
        dst = os.path.join(out, f[:-5] + ".zarr")
        try:
            with h5py.File(os.path.join(src, f), "r") as h:
                copy_group(h, zarr.open_group(dst, mode="w"))
        except (Inexpressible, KeyError, OSError, UnicodeError, ValueError):
            # KeyError, OSError: a name no directory entry can have (over
            # 255 bytes); UnicodeError, ValueError: a name zarr-python refuses
            # (not text, or "..").
            shutil.rmtree(dst, ignore_errors=True)
            print(f)
            continue
        st = os.stat(os.path.join(src, f))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


if __name__ == "__main__":
    main()
