"""tests/zarr_gen.py - write the Zarr stores the tests read, into a temporary
directory: one AnnData (an .h5ad) as zarr-python 2 writes it with every
compressor, as a ZipStore (stored, deflated, and zip64 as a store over
4 GiB has it), with dimension_separator "/", consolidated, and
converted to Zarr v3 (tests/zarr_v3.py) with each v3 codec; plus the
reference values of every array, read from the .h5ad with h5py.

    python3 tests/zarr_gen.py pbmc68k_reduced.h5ad OUT [--refs] [--bad]

OUT/NAME.zarr, OUT/NAME.zarr.zip: the stores; OUT/variants lists them.
--refs: OUT/ref/manifest (one array a line: path, dtype kind, shape) and
        OUT/ref/N.bin, its values little-endian (strings NUL-terminated);
        OUT/extras.zarr and OUT/ref-extras: what anndata does not write.
--bad:  OUT/bad/*: small stores each broken in one way (tests/test_zarr.c).
"""
import os
import struct
import sys
import warnings
import zipfile

import h5py
import numcodecs
import numpy as np
import zarr

import zarr_v3

warnings.simplefilter("ignore")

# name -> compressor zarr-python 2 writes every array with.
V2 = {
    "blosc-lz4": numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE),  # the zarr default
    "blosc-lz4hc-bit": numcodecs.Blosc("lz4hc", 5, numcodecs.Blosc.BITSHUFFLE),
    "blosc-zstd-noshuffle": numcodecs.Blosc("zstd", 3, numcodecs.Blosc.NOSHUFFLE),
    "blosc-zlib": numcodecs.Blosc("zlib", 5, numcodecs.Blosc.SHUFFLE),
    "blosc-blosclz": numcodecs.Blosc("blosclz", 5, numcodecs.Blosc.BITSHUFFLE),
    "zstd": numcodecs.Zstd(level=3),
    "zlib": numcodecs.Zlib(level=6),
    "gzip": numcodecs.GZip(level=6),
    "lz4": numcodecs.LZ4(),
    "bz2": numcodecs.BZ2(level=9),
    "none": None,
}

# name -> v3 codec choice (tests/zarr_v3.py).
V3 = {
    "v3-blosc": dict(codec="blosc"),
    "v3-zstd-crc32c": dict(codec="zstd", crc32c=True),
    "v3-gzip-transpose": dict(codec="gzip", transpose=True),
    "v3-sharded": dict(codec="zstd", shard=True),
    "v3-sharded-start-v2keys": dict(codec="blosc", shard=True, index_start=True, v2_keys=True),
    "v3-consolidated-bytes": dict(codec=None, consolidated=True),
}


def write_v2(adata, out, name, compressor, **store_args):
    zarr.storage.default_compressor = compressor
    path = os.path.join(out, name)
    if path.endswith(".zip"):
        store = zarr.ZipStore(path, mode="w", **store_args)
        adata.write_zarr(store)
        store.close()
    else:
        adata.write_zarr(zarr.DirectoryStore(path, **store_args))
    return path


def zip64(src, dst):
    """The directory store src as a zip whose every size and offset is in
    zip64 fields (as a store over 4 GiB has them), entries stored."""
    central, at = [], 0
    with open(dst, "wb") as out:
        for base, _, files in sorted(os.walk(src)):
            for f in sorted(files):
                name = os.path.relpath(os.path.join(base, f), src).encode()
                with open(os.path.join(base, f), "rb") as fh:
                    data = fh.read()
                crc = zipfile.crc32(data)
                extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
                out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc,
                                      0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra)) + name + extra + data)
                cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), at)
                central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc,
                                           0xFFFFFFFF, 0xFFFFFFFF, len(name), len(cextra), 0, 0, 0, 0,
                                           0xFFFFFFFF) + name + cextra)
                at += 30 + len(name) + len(extra) + len(data)
        cd = b"".join(central)
        out.write(cd)
        eocd64 = at + len(cd)
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(central), len(central),
                              len(cd), at))
        out.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def write_refs(ref, items):
    """items: (path, numpy array or None for one that must be refused)."""
    os.makedirs(ref)
    lines = []
    for i, (name, a) in enumerate(items):
        if a is None:
            kind, data = "refused", b""
        elif a.dtype.kind in "OSU":
            kind = "str"
            vals = a.reshape(-1)
            data = b"".join((v if isinstance(v, bytes) else str(v).encode()) + b"\0" for v in vals)
        else:
            kind = a.dtype.kind
            data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        with open(os.path.join(ref, "%d.bin" % i), "wb") as fh:
            fh.write(data)
        shape = ",".join(str(s) for s in a.shape) if a is not None else ""
        lines.append("%s\t%s\t%s\n" % (name, kind, shape))
    with open(os.path.join(ref, "manifest"), "w") as fh:
        fh.writelines(lines)


def h5ad_refs(h5ad, out):
    """Every dataset of the .h5ad, read with h5py; compounds (rec-arrays,
    a structured dtype in Zarr) must be refused."""
    items = []
    with h5py.File(h5ad, "r") as f:
        def visit(name, d):
            if not isinstance(d, h5py.Dataset):
                return
            if d.dtype.names:
                items.append((name, None))
            elif d.dtype.kind == "O" or d.dtype.kind == "S":
                items.append((name, np.asarray(d.asstr()[()], dtype=object)))
            else:
                items.append((name, np.asarray(d[()])))
        f.visititems(visit)
    write_refs(os.path.join(out, "ref"), items)


def bad_stores(out):
    """Small stores, each broken in one way; the C test says how."""
    bad = os.path.join(out, "bad")
    os.makedirs(bad)

    def store(name, **arrays):
        g = zarr.open_group(os.path.join(bad, name), mode="w")
        for key, (data, kw) in arrays.items():
            g.create_dataset(key, data=data, **kw)
        return os.path.join(bad, name)

    ok = (np.arange(100, dtype="<i4"), dict(chunks=(10,)))
    p = store("badjson", a=ok)
    with open(os.path.join(p, "a", ".zarray"), "w") as fh:
        fh.write('{"zarr_format": 2, "shape": [100')
    p = store("unknowncodec", a=ok)
    zarr_v3.edit_json(os.path.join(p, "a", ".zarray"), compressor={"id": "foo"})
    p = store("unknownfilter", a=ok)
    zarr_v3.edit_json(os.path.join(p, "a", ".zarray"), filters=[{"id": "bar"}])
    p = store("missingchunk", a=(np.arange(100, dtype="<i4"), dict(chunks=(10,), fill_value=None)),
              b=(np.arange(100, dtype="<i4"), dict(chunks=(10,), fill_value=7)))
    os.unlink(os.path.join(p, "a", "3"))
    os.unlink(os.path.join(p, "b", "3"))
    p = store("symlink", a=ok)
    secret = os.path.join(out, "secret")
    with open(secret, "wb") as fh:
        fh.write(np.arange(10, dtype="<i4").tobytes())
    os.unlink(os.path.join(p, "a", "0"))
    os.symlink(secret, os.path.join(p, "a", "0"))
    os.symlink(os.path.join(out, "outside"), os.path.join(p, "linked"))
    g = zarr.open_group(os.path.join(out, "outside"), mode="w")
    g.create_dataset("x", data=np.arange(3))
    p = store("hugeshape", a=ok)
    zarr_v3.edit_json(os.path.join(p, "a", ".zarray"), shape=[1 << 50], chunks=[1 << 50])
    p = store("corrupt", a=(np.arange(1000, dtype="<i4"), dict(chunks=(500,), compressor=V2["blosc-lz4"])))
    with open(os.path.join(p, "a", "1"), "r+b") as fh:
        fh.truncate(40)
    p = store("forder", a=(np.arange(100, dtype="<i4").reshape(10, 10), dict(chunks=(5, 5), order="F")))
    p = store("vlenlies", a=(np.array(["x", "yy", "zzz"], dtype=object),
                             dict(object_codec=numcodecs.VLenUTF8(), compressor=None)))
    with open(os.path.join(p, "a", "0"), "r+b") as fh:
        fh.seek(4)  # item 0's length
        fh.write(b"\xff\xff\xff\x7f")
    with open(os.path.join(bad, "truncated.zarr.zip"), "wb") as fh:
        fh.write(b"PK\x03\x04" + b"\0" * 40)


def extras(out):
    """What anndata does not write but Zarr stores hold: big-endian numbers,
    a Delta filter, fixed-width strings, missing chunks read as fill values,
    2-d edge chunks, nested groups. OUT/extras.zarr, its values in OUT/ref-extras."""
    rng = np.random.default_rng(7)
    g = zarr.open_group(os.path.join(out, "extras.zarr"), mode="w")
    vals = {
        "be_i4": (rng.integers(-1 << 30, 1 << 30, 1000).astype(">i4"), dict(chunks=(64,))),
        "be_f8": (rng.normal(size=(37, 11)).astype(">f8"), dict(chunks=(8, 4))),
        "be_u2": (rng.integers(0, 60000, 300).astype(">u2"), dict(chunks=(100,))),
        "delta_i8": (np.cumsum(rng.integers(0, 9, 500)).astype("<i8"),
                     dict(chunks=(128,), filters=[numcodecs.Delta(dtype="<i8", astype="<i2")])),
        "fixed_u": (np.array(["a", "\u00e9t\u00e9", "\U0001f600x", ""], dtype="<U3"), dict(chunks=(3,))),
        "fixed_s": (np.array([b"ab", b"", b"xyz\x01"], dtype="|S4"), dict(chunks=(2,))),
        "bools": (rng.integers(0, 2, 77).astype(bool), dict(chunks=(10,))),
        "sparse_fill": (np.full(100, 3.5, dtype="<f4"), dict(chunks=(10,), fill_value=3.5)),
        "group/inner/deep": (np.arange(6, dtype="<u8").reshape(2, 3), dict(chunks=(1, 2))),
    }
    for key, (data, kw) in vals.items():
        g.create_dataset(key, data=data, **kw)
    # A chunk equal to the fill value, removed: it reads as the fill value.
    os.unlink(os.path.join(out, "extras.zarr", "sparse_fill", "4"))
    write_refs(os.path.join(out, "ref-extras"), [(k, v) for k, (v, _) in vals.items()])


def main():
    h5ad, out = sys.argv[1], sys.argv[2]
    import anndata
    adata = anndata.read_h5ad(h5ad)
    os.makedirs(out, exist_ok=True)
    names = []
    for name, comp in V2.items():
        write_v2(adata, out, name + ".zarr", comp)
        names.append(name + ".zarr")
    default = V2["blosc-lz4"]
    write_v2(adata, out, "zip.zarr.zip", default)
    write_v2(adata, out, "zip-deflated.zarr.zip", default, compression=zipfile.ZIP_DEFLATED)
    zip64(os.path.join(out, "blosc-lz4.zarr"), os.path.join(out, "zip64.zarr.zip"))
    write_v2(adata, out, "nested.zarr", numcodecs.Zstd(), dimension_separator="/")
    consolidated = write_v2(adata, out, "consolidated.zarr", numcodecs.LZ4())
    zarr.consolidate_metadata(consolidated)
    names += ["zip.zarr.zip", "zip-deflated.zarr.zip", "zip64.zarr.zip", "nested.zarr", "consolidated.zarr"]
    for name, opts in V3.items():
        zarr_v3.convert(os.path.join(out, "blosc-lz4.zarr"), os.path.join(out, name + ".zarr"), **opts)
        names.append(name + ".zarr")
    if "--refs" in sys.argv:
        # Only consolidated metadata describes these now: a reader that
        # walks the directories instead misses X.
        os.unlink(os.path.join(consolidated, "X", ".zarray"))
        os.unlink(os.path.join(out, "v3-consolidated-bytes.zarr", "X", "zarr.json"))
    with open(os.path.join(out, "variants"), "w") as fh:
        fh.writelines(n + "\n" for n in names)
    if "--refs" in sys.argv:
        h5ad_refs(h5ad, out)
        extras(out)
    if "--bad" in sys.argv:
        bad_stores(out)


if __name__ == "__main__":
    main()
