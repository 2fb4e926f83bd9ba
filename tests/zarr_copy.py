"""tests/zarr_copy.py - copy .h5ad files element by element into Zarr v2
stores, keeping each encoding exactly as it is (anndata's own writer would
normalise them): groups, arrays, attributes and chunk shapes as in the HDF5
file, values through Blosc.

    python3 tests/zarr_copy.py INDIR OUTDIR

INDIR/NAME.h5ad -> OUTDIR/NAME.zarr, with the .h5ad's mtime; a file with a
name longer than a directory entry allows (255 bytes) goes into a ZipStore,
OUTDIR/NAME.zarr.zip, whose entry names may be longer. Variable-length
strings become vlen-utf8 object arrays, or vlen-bytes when they are not
UTF-8 (HDF5 allows any bytes). What Zarr cannot hold leaves a file out;
"NAME.h5ad: reason" is printed on stdout, one a line:
  - compound datasets (the pre-0.7 layout): anndata only ever wrote them
    to HDF5, and a Zarr reader of AnnData has no compound arrays;
  - object references: Zarr has none;
  - a name holding "/" or a "." or ".." component ("a/../b"): in Zarr "/"
    separates the levels of the hierarchy, and the specification forbids
    such path segments (zarr-python refuses them);
  - a name that is not UTF-8: attributes (column-order, categories of
    attributes) are JSON, whose text is Unicode.
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
        raise Inexpressible("an object reference: Zarr has none")
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, np.ndarray):
        return [attr_value(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


def copy_dataset(d, group, name):
    if d.dtype.names:
        raise Inexpressible("a compound dataset (" + d.name + "): anndata wrote them to HDF5 only")
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
        if name in (".", "..") or "/" in name:
            raise Inexpressible('a name holding "/", "." or "..": ' + repr(name))
        if isinstance(item, h5py.Group):
            copy_group(item, group.create_group(name))
        else:
            copy_dataset(item, group, name)


def copy_file(path, dst):
    with h5py.File(path, "r") as h:
        names = []
        h.visit(lambda name: names.append(name))  # None: visit every one
        if any(isinstance(n, bytes) for n in names):
            raise Inexpressible("a name that is not UTF-8 (JSON attributes are Unicode text)")
        if any(len(p.encode()) > 255 for n in names for p in n.split("/")):
            dst += ".zip"
            store = zarr.ZipStore(dst, mode="w")
            try:
                copy_group(h, zarr.open_group(store, mode="w"))
            finally:
                store.close()
        else:
            copy_group(h, zarr.open_group(dst, mode="w"))
    return dst


def main():
    src, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    for f in sorted(os.listdir(src)):
        if not f.endswith(".h5ad"):
            continue
        dst = os.path.join(out, f[:-5] + ".zarr")
        try:
            dst = copy_file(os.path.join(src, f), dst)
        except Inexpressible as e:
            shutil.rmtree(dst, ignore_errors=True)
            print(f"{f}: {e}")
            continue
        st = os.stat(os.path.join(src, f))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


if __name__ == "__main__":
    main()
