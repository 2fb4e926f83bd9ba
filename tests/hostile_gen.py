#!/usr/bin/python3
"""Write the hostile corpus that tests/hostile.sh replays.

usage: hostile_gen.py OUTDIR [FIXTURES]

Every file is made here, from a small generated .h5ad (tests/gen_cases.py's
writers, fixed seeds) or from a fixture of FIXTURES when given:

  flip_NN      the generated file with 1-32 bytes overwritten at random
               (fixed seed), half of them in its first 4 kB, where the
               superblock, the root group and most object headers are
  fixflip_NN   the same over anndata_archive_v0.11.4.h5ad (FIXTURES)
  trunc_*      the generated file cut short
  <name>       a construct an attacker would write on purpose (HANDMADE:
               claimed shapes beyond the file, wrong dtypes, codes out of
               range, link cycles, deep nesting, empty and null datasets,
               strings without a terminator ...)
  claim_*      shapes the file cannot hold (class "claim", with the element
               check must name), one of them a Zarr store
  fuzz_*       inputs the fuzzer (make fuzz) found, rebuilt as a base file
               and the bytes that differ (FUZZ_FOUND)

OUTDIR/corpus.tsv lists "file<TAB>class<TAB>about<TAB>element", class
"daemon" (the daemon must survive it: check, mount, read, unmount), "claim"
(the same, and check refuses element within seconds), "libhdf5" (libhdf5
itself crashes on it inside the daemon, until the reader process contains
that: check must still end, without hanging) or "hang" (libhdf5 spins on it
for ever: left to the reader's watchdog, not run yet). The same run writes
the same bytes.
"""
import json
import os
import random
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_cases import (CASES, STR, Base, enc, leiden_col, score_col, strings,  # noqa: E402
                       write_array, write_categorical, write_h5ad, write_sparse,
                       write_sparse_raw)

OUT = sys.argv[1]
FIXTURES = sys.argv[2] if len(sys.argv) > 2 else None
ARCHIVE = "anndata_archive_v0.11.4.h5ad"
corpus = []

# What libhdf5 1.10.8 (Debian 12) itself crashes on, in a vlen string read
# (scripts/fuzz.sh classify: SEGV in H5HG_read < H5T__conv_vlen < H5Aread).
LIBHDF5 = {"flip_06.h5ad", "flip_15.h5ad"}


def add(name, cls, about, element=""):
    if name in LIBHDF5:
        cls = "libhdf5"
    corpus.append((name, cls, about, element))
    return os.path.join(OUT, name)


def write_base(path):
    b = Base(14, n=40, g=12)
    phase = ("phase", lambda g, k: write_categorical(g, k, b.cluster % 3, ["G1", "S", "G2M"]))
    write_h5ad(path, b, [leiden_col(b), score_col(b), phase],
               X=lambda f: write_sparse(f, "X", b.X, "csr"))


def edit(name, about, cls="daemon", element=""):
    """A copy of the base file, opened for writing, added to the corpus."""
    path = add(name, cls, about, element)
    shutil.copyfile(BASE, path)
    return h5py.File(path, "r+")


def replace(f, path, **kw):
    """Delete path and write a dataset there with its encoding attributes."""
    attrs = dict(f[path].attrs) if path in f else {}
    del f[path]
    ds = f.create_dataset(path, **kw)
    for k, v in attrs.items():
        ds.attrs[k] = v
    return ds


def raw_strings(f, path, width, values, pad):
    """A fixed-width string dataset whose bytes are written as given: with
    STR_NULLTERM and every byte used, no element has its terminator."""
    attrs = dict(f[path].attrs)
    del f[path]
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(width)
    tid.set_strpad(pad)
    space = h5py.h5s.create_simple((len(values),))
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_obj_track_times(False)  # as h5py's high level: the same bytes every run
    dsid = h5py.h5d.create(f.id, path.encode(), tid, space, dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(values, dtype=f"S{width}"), mtype=tid)
    for k, v in attrs.items():
        f[path].attrs[k] = v


def flips(src, prefix, count, rng):
    data = open(src, "rb").read()
    for i in range(count):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 32)):
            at = rng.randrange(min(4096, len(buf))) if rng.random() < 0.5 else rng.randrange(len(buf))
            buf[at] = rng.randrange(256)
        with open(add(f"{prefix}_{i:02d}.h5ad", "daemon", f"{src}: bytes overwritten"), "wb") as fh:
            fh.write(buf)


# ---- hand-made constructs: name -> (about, function of the open copy) ----

HANDMADE = []


def handmade(name, about, cls="daemon", element=""):
    def deco(fn):
        HANDMADE.append((name, about, cls, element, fn))
        return fn
    return deco


@handmade("huge_obs_index", "obs/_index claims 2^40 cells (chunked, no chunk written)")
def _(f):
    replace(f, "obs/_index", shape=(1 << 40,), chunks=(1024,), dtype=STR, maxshape=(None,))


@handmade("huge_x_shape", "X's shape attribute claims 2^31 x 2^31 over 40 x 12 stored values")
def _(f):
    f["X"].attrs["shape"] = np.array([1 << 31, 1 << 31], dtype=np.int64)


@handmade("huge_obsm", "obsm/X_umap claims 2^36 rows of 2 (chunked, empty)")
def _(f):
    replace(f, "obsm/X_umap", shape=(1 << 36, 2), chunks=(1024, 2), dtype="f8")


@handmade("wide_obsm", "obsm/X_pca claims 40 x 2^20 columns (chunked, empty)")
def _(f):
    replace(f, "obsm/X_pca", shape=(40, 1 << 20), chunks=(1, 4096), dtype="f4")


# Claims the file cannot hold (class "claim", the element named last):
# check must refuse each within seconds, naming it, before allocating.

@handmade("claim_obsm_cols", "obsm/X_pca claims 40 x 2^24 float32 (2.7 GB, no chunk written)",
          "claim", "obsm/X_pca")
def _(f):
    replace(f, "obsm/X_pca", shape=(40, 1 << 24), chunks=(1, 4096), dtype="f4")


@handmade("claim_categories", "obs/phase/categories claims 2^30 strings (no chunk written)",
          "claim", "obs/phase/categories")
def _(f):
    replace(f, "obs/phase/categories", shape=(1 << 30,), chunks=(4096,), dtype=STR)


@handmade("claim_string_width", "obs/_index: 40 fixed-width strings of 2^26 bytes (never written)",
          "claim", "obs/_index")
def _(f):
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(1 << 26)
    replace(f, "obs/_index", shape=(40,), dtype=h5py.Datatype(tid))


@handmade("claim_graph", "obsp/connectivities/indices and data claim 2^33 entries (no chunk written)",
          "claim", "obsp/connectivities/")
def _(f):
    replace(f, "obsp/connectivities/indices", shape=(1 << 33,), chunks=(1 << 16,), dtype="i4")
    replace(f, "obsp/connectivities/data", shape=(1 << 33,), chunks=(1 << 16,), dtype="f4")


@handmade("claim_var_column", "var/dispersion claims 2^32 float64 (no chunk written; "
          "read only with gene_id_column=dispersion)")
def _(f):
    f["var"].create_dataset("dispersion", shape=(1 << 32,), chunks=(1 << 16,), dtype="f8")
    f["var"].attrs.create("column-order", strings(["dispersion"]), dtype=STR)


@handmade("claim_deflate_bomb", "obsm/X_pca: 40 x 2^19 zeros (84 MB) deflated into 80 kB: "
          "held (decoded chunk bytes count, not stored ones), so read")
def _(f):
    replace(f, "obsm/X_pca", data=np.zeros((40, 1 << 19), dtype="f4"), chunks=(40, 1 << 16),
            compression="gzip")


@handmade("huge_indptr", "X/indptr claims 2^40 entries")
def _(f):
    replace(f, "X/indptr", shape=(1 << 40,), chunks=(4096,), dtype="i8", maxshape=(None,))


@handmade("codes_float", "obs/leiden/codes are float64")
def _(f):
    replace(f, "obs/leiden/codes", data=np.linspace(0, 4, 40))


@handmade("codes_out_of_range", "obs/phase/codes up to 120 with 3 categories, and -7")
def _(f):
    codes = (np.arange(40) * 3 % 121).astype(np.int8)
    codes[5] = -7
    replace(f, "obs/phase/codes", data=codes)


@handmade("codes_short", "obs/leiden/codes holds 7 codes for 40 cells")
def _(f):
    replace(f, "obs/leiden/codes", data=np.zeros(7, dtype=np.int8))


@handmade("categories_numbers", "obs/phase/categories are 2-D float32")
def _(f):
    replace(f, "obs/phase/categories", data=np.ones((3, 5), dtype=np.float32))


@handmade("categories_empty", "obs/phase/categories is empty, codes point into it")
def _(f):
    replace(f, "obs/phase/categories", data=strings([]), dtype=STR)


@handmade("column_strings_as_numbers", "obs/score is a compound of two floats")
def _(f):
    replace(f, "obs/score", data=np.zeros(40, dtype=[("a", "f4"), ("b", "f8")]))


@handmade("column_2d", "obs/score is 40 x 3")
def _(f):
    replace(f, "obs/score", data=np.zeros((40, 3), dtype=np.float32))


@handmade("column_scalar", "obs/score is a scalar")
def _(f):
    replace(f, "obs/score", data=np.float32(1.5))


@handmade("null_dataspace", "obs/score and X/data have a null dataspace (h5py.Empty)")
def _(f):
    replace(f, "obs/score", data=h5py.Empty("f4"))
    replace(f, "X/data", data=h5py.Empty("f4"))


@handmade("zero_sized", "obsm/X_umap is 0 x 2, obsp/connectivities/indptr is empty")
def _(f):
    replace(f, "obsm/X_umap", shape=(0, 2), dtype="f8")
    replace(f, "obsp/connectivities/indptr", shape=(0,), dtype="i4")


@handmade("x_data_strings", "X/data holds strings")
def _(f):
    n = f["X/data"].shape[0]
    replace(f, "X/data", data=strings(["1.5"] * n), dtype=STR)


@handmade("x_indices_out_of_range", "X/indices point at genes 12..2^31-1 of 12")
def _(f):
    n = f["X/indices"].shape[0]
    replace(f, "X/indices", data=np.linspace(12, (1 << 31) - 1, n).astype(np.int32))


@handmade("x_indptr_backwards", "X/indptr decreases, and ends past X/data")
def _(f):
    ip = f["X/indptr"][...][::-1].copy()
    ip[-1] = ip[0] + 1000
    replace(f, "X/indptr", data=ip)


@handmade("x_indptr_negative", "X/indptr holds negative offsets (int64)")
def _(f):
    n = f["X/indptr"].shape[0]
    replace(f, "X/indptr", data=-np.arange(n, dtype=np.int64) * 1000003)


@handmade("graph_out_of_range", "obsp/connectivities names cells 40..2^30 of 40, weights NaN and inf")
def _(f):
    g = f["obsp/connectivities"]
    n = g["indices"].shape[0]
    replace(f, "obsp/connectivities/indices", data=np.linspace(40, 1 << 30, n).astype(np.int32))
    d = np.full(n, np.nan, dtype=np.float32)
    d[::2] = np.inf
    replace(f, "obsp/connectivities/data", data=d)


@handmade("graph_shape_lies", "obsp/connectivities claims a 2^40 x 2 shape")
def _(f):
    f["obsp/connectivities"].attrs["shape"] = np.array([1 << 40, 2], dtype=np.int64)


@handmade("umap_not_finite", "obsm/X_umap holds NaN, inf and 1e308")
def _(f):
    u = np.full((40, 2), np.nan)
    u[::3] = np.inf
    u[1::3] = 1e308
    replace(f, "obsm/X_umap", data=u)


@handmade("obsm_strings", "obsm/X_umap holds strings, obsm/X_pca is 1-D")
def _(f):
    replace(f, "obsm/X_umap", data=strings(["x"] * 80), dtype=STR)
    replace(f, "obsm/X_pca", data=np.zeros(40, dtype=np.float32))


@handmade("soft_link_cycle", "obs/loop -> /obs/loop, obsm/X_umap -> obsm/b -> obsm/X_umap, "
          "var/_index -> /var/_index")
def _(f):
    f["obs/loop"] = h5py.SoftLink("/obs/loop")
    f["obs"].attrs.create("column-order", strings(["leiden", "loop", "score"]), dtype=STR)
    del f["obsm/X_umap"]
    f["obsm/X_umap"] = h5py.SoftLink("/obsm/b")
    f["obsm/b"] = h5py.SoftLink("/obsm/X_umap")
    del f["var/_index"]
    f["var/_index"] = h5py.SoftLink("/var/_index")


@handmade("soft_link_chain", "obs/score reached through a chain of 40 soft links")
def _(f):
    f.move("obs/score", "obs/s0")
    for i in range(1, 40):
        f[f"obs/s{i}"] = h5py.SoftLink(f"/obs/s{i - 1}")
    f["obs/score"] = h5py.SoftLink("/obs/s39")


@handmade("hard_link_cycle", "obs holds itself as a column; a categorical's categories is "
          "the categorical group; uns holds itself")
def _(f):
    f["obs/self"] = f["obs"]
    f["obs"].attrs.create("column-order", strings(["leiden", "self", "phase"]), dtype=STR)
    del f["obs/phase/categories"]
    f["obs/phase/categories"] = f["obs/phase"]
    f["uns/self"] = f["uns"]


@handmade("deep_nesting", "obs/deep and uns: groups nested 200 and 100 deep, obsm/X_umap 100 deep")
def _(f):
    g = f["obs"].create_group("deep")
    enc(g, "dict", "0.1.0")
    u = f["uns"]
    for i in range(200):
        g = g.create_group("d")
        enc(g, "categorical", "0.2.0")
        if i < 100:
            u = u.create_group("u")
    f["obs"].attrs.create("column-order", strings(["leiden", "deep"]), dtype=STR)
    del f["obsm/X_umap"]
    m = f["obsm"].create_group("X_umap")
    for i in range(100):
        m = m.create_group("m")


@handmade("strings_no_terminator", "obs/_index, var/_index and obs/phase/categories: "
          "fixed-width NULLTERM strings with every byte used")
def _(f):
    raw_strings(f, "obs/_index", 4, [b"c%03d" % i for i in range(40)], h5py.h5t.STR_NULLTERM)
    raw_strings(f, "var/_index", 3, [b"G%02d" % i for i in range(12)], h5py.h5t.STR_NULLTERM)
    raw_strings(f, "obs/phase/categories", 2, [b"G1", b"SS", b"G2"], h5py.h5t.STR_NULLTERM)


@handmade("strings_binary", "var/_index: vlen strings with NUL, control and invalid UTF-8 bytes")
def _(f):
    names = [b"A\x01B", b"\x1b[31mred", b"\xff\xfe", b"../../etc", b"", b"a/b"] + \
        [b"G%d" % i for i in range(6)]
    replace(f, "var/_index", data=np.array(names, dtype=object),
            dtype=h5py.string_dtype("ascii"))


@handmade("duplicate_names", "var/_index: 12 equal gene names; obs column-order names a column twice")
def _(f):
    replace(f, "var/_index", data=strings(["CD3D"] * 12), dtype=STR)
    f["obs"].attrs.create("column-order", strings(["leiden", "leiden", "score"]), dtype=STR)


@handmade("encoding_attrs_wrong", "encoding-type attributes that are integers, arrays, empty")
def _(f):
    f["X"].attrs["encoding-type"] = np.int64(7)
    f["obs/leiden"].attrs["encoding-type"] = np.array([b"categorical", b"array"])
    f["obs"].attrs["encoding-type"] = ""
    f["obs"].attrs["_index"] = np.float64(3)


@handmade("column_order_lies", "obs column-order names 1000 columns that are not there")
def _(f):
    f["obs"].attrs.create("column-order", strings([f"c{i}" for i in range(1000)]), dtype=STR)


@handmade("mismatched_lengths", "obs/score has 13 values, var/_index 5 names, X 40 x 12")
def _(f):
    replace(f, "obs/score", data=np.zeros(13, dtype=np.float32))
    replace(f, "var/_index", data=strings(["a", "b", "c", "d", "e"]), dtype=STR)


@handmade("dense_x_wrong", "X is a dense 40 x 12 array of uint64 beside a csr X's attributes")
def _(f):
    del f["X"]
    ds = write_array(f, "X", np.arange(480, dtype=np.uint64).reshape(40, 12) * (1 << 60))
    ds.attrs["shape"] = np.array([40, 12], dtype=np.int64)


@handmade("x_csc_lies", "X as csc_matrix claiming 40 x 12 with 2 columns of pointers")
def _(f):
    del f["X"]
    write_sparse_raw(f, "X", (40, 12), np.ones(4, dtype=np.float32),
                     np.array([0, 39, 40, 1 << 30], dtype=np.int32),
                     np.array([0, 4], dtype=np.int32), fmt="csc")


@handmade("filters_garbage", "X/data: a deflate chunk of junk; obs/score: shuffle+deflate junk")
def _(f):
    n = f["X/data"].shape[0]
    replace(f, "X/data", data=np.ones(n, dtype=np.float32), chunks=(16,), compression="gzip")
    replace(f, "obs/score", data=np.ones(40, dtype=np.float32), chunks=(8,),
            compression="gzip", shuffle=True)
    f.flush()
    for path in ("X/data", "obs/score"):
        info = f[path].id.get_chunk_info(0)
        JUNK.append((info.byte_offset, info.size))


JUNK = []


# ---- inputs the fuzzer found: a base and the bytes that differ ----

# (name, class, about, base: "case:NAME" for tests/gen_cases.py's case NAME,
# or a fixture's file name; its size; [(offset, hex bytes)]), found by make
# fuzz in its seeds (a hang's bytes cut down to what still hangs);
# scripts/fuzz.sh classify says where each fails.
FUZZ_FOUND = [
    ("fuzz_lzf_vlen.h5ad", "libhdf5", "1 byte of gen_cases lzf: SEGV in H5HG_read < H5T__conv_vlen",
     "case:lzf", 94547, [(12331, "2c")]),
    ("fuzz_categories_vlen.h5ad", "libhdf5", "8 runs in gen_cases many_categories: SEGV in H5HG_read",
     "case:many_categories", 141168,
     [(10164, "c6"), (22309, "01"), (35623, "240000"), (43691, "6a"), (54804, "7218"),
      (75923, "28"), (108394, "32"), (124658, "01")]),
    ("fuzz_slash_keys_vlen.h5ad", "libhdf5", "15 runs in gen_cases slash_keys: SEGV in H5HG_read",
     "case:slash_keys", 98136,
     [(6409, "08"), (23047, "02"), (27978, "30"), (30495, "e4"), (31273, "8e4ec0f2"),
      (37810, "00b1"), (37813, "3f18"), (37816, "00"),
      (40545, "4f7065726174696f6e2063616e63656c6564"), (58175, "c2d93639407fde00"),
      (61886, "edb6"), (68073, "36"), (86144, "32"), (92537, "0d"),
      (94963, "4f7065726174696f6e2063616e63656c6564")]),
    ("fuzz_object_header.h5ad", "daemon", "5 runs in gen_cases many_categories: an object header "
     "libhdf5 allocates 2 GB for (H5C_protect < H5O_protect), fails without under ASan",
     "case:many_categories", 141168,
     [(10164, "c6"), (32948, "02"), (35623, "240000"), (54804, "7218"), (75923, "28")]),
    ("fuzz_global_heap_spin.h5ad", "hang", "7 bytes of gen_cases many_categories: libhdf5 "
     "spins for ever in H5C_protect < H5HG__protect < H5HG_read < H5Aread",
     "case:many_categories", 141168, [(25496, "00"), (25504, "0000000000"), (25512, "00")]),
]


def zarr_claim():
    """A Zarr copy of the base file whose obsm/X_pca claims 40 x 2^24
    float32 with every chunk missing (each would read as the fill value)."""
    try:
        import warnings
        warnings.simplefilter("ignore")
        import anndata
    except ImportError:
        return
    path = add("claim_zarr_obsm.zarr", "claim", "Zarr: obsm/X_pca claims 40 x 2^24 float32, "
               "every chunk missing", "obsm/X_pca")
    anndata.read_h5ad(BASE).write_zarr(path)
    meta = os.path.join(path, "obsm", "X_pca", ".zarray")
    with open(meta) as fh:
        z = json.load(fh)
    z.update(shape=[40, 1 << 24], chunks=[40, 4096], fill_value=0.0)
    with open(meta, "w") as fh:
        json.dump(z, fh)
    for name in os.listdir(os.path.dirname(meta)):
        if not name.startswith("."):
            os.unlink(os.path.join(os.path.dirname(meta), name))


def rebuild(name, cls, about, base, size, patches):
    if base.startswith("case:"):
        src = os.path.join(OUT, "case.h5ad")
        next(c for c in CASES if c["name"] == base[5:])["fn"](src)
    else:
        src = os.path.join(FIXTURES or "", base)
        if not os.path.exists(src):
            return
    buf = bytearray(open(src, "rb").read())
    if base.startswith("case:"):
        os.unlink(src)
    if len(buf) != size:
        sys.exit(f"hostile_gen.py: {name}: the base {base} is {len(buf)} bytes, not {size}")
    for at, hexbytes in patches:
        b = bytes.fromhex(hexbytes)
        buf[at:at + len(b)] = b
    with open(add(name, cls, about), "wb") as fh:
        fh.write(buf)


def main():
    global BASE
    os.makedirs(OUT, exist_ok=True)
    BASE = os.path.join(OUT, "base.h5ad")
    write_base(BASE)
    add("base.h5ad", "daemon", "the generated file itself (40 cells x 12 genes, csr X)")
    rng = random.Random(14)
    flips(BASE, "flip", 40, rng)
    if FIXTURES and os.path.exists(os.path.join(FIXTURES, ARCHIVE)):
        flips(os.path.join(FIXTURES, ARCHIVE), "fixflip", 20, rng)
    data = open(BASE, "rb").read()
    for cut in (0, 8, 96, 800, 2048, len(data) // 2, len(data) - 1):
        with open(add(f"trunc_{cut}.h5ad", "daemon", f"the first {cut} bytes"), "wb") as fh:
            fh.write(data[:cut])
    for name, about, cls, element, fn in HANDMADE:
        del JUNK[:]
        path = os.path.join(OUT, name + ".h5ad")
        with edit(name + ".h5ad", about, cls, element) as f:
            fn(f)
        with open(path, "r+b") as fh:
            for at, size in JUNK:
                fh.seek(at)
                fh.write(bytes((i * 37 + 11) & 255 for i in range(size)))
    zarr_claim()
    for entry in FUZZ_FOUND:
        rebuild(*entry)
    with open(os.path.join(OUT, "corpus.tsv"), "w") as fh:
        for row in corpus:
            fh.write("\t".join(row) + "\n")
    print(f"{len(corpus)} files written to {OUT}")


if __name__ == "__main__":
    main()
