#!/usr/bin/python3
"""Write small, deterministic .h5ad files for the compatibility tests.

usage: gen_cases.py OUTDIR

Every file is written with h5py, element by element, following
shared/spec/h5ad-format.md, so that each encoding is exactly the one under
test (anndata's own writer would normalise them away). Each case has at most
300 cells and 50 genes, an X_umap and a kNN-like obsp/connectivities so that it
mounts. OUTDIR/cases.json describes the cases for tests/compat.sh:

  {"name", "file", "about",
   "runs": [{"suffix", "options"[, "refuse"][, "warnings"]}],
                                             one mount per run (options as for -o); a run's
                                             refuse/warnings replace the case's
   "warnings": {"names": [regex...], "index": [regex...]},
                                             each regex must match a line of the mount log
   "refuse": substring or null,              the mount must be refused with one line holding it
   "hostile": bool}                          hostile names: strict JSON, no path escapes

Fixed seeds: running it twice writes byte-identical cases.json and the same
data (HDF5 files themselves carry no timestamps that matter here).
"""
import json
import os
import sys

import h5py
import numpy as np

STR = h5py.string_dtype("utf-8")
N_DEFAULT = 200
G_DEFAULT = 30


# --------------------------------------------------------------------------
# element writers (h5ad-format.md §3)

def enc(obj, etype, version):
    obj.attrs["encoding-type"] = etype
    obj.attrs["encoding-version"] = version


def strings(values):
    """An object array of str/bytes for a vlen UTF-8 dataset or attribute."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def write_array(parent, name, data, **kw):
    ds = parent.create_dataset(name, data=data, **kw)
    enc(ds, "array", "0.2.0")
    return ds


def write_string_array(parent, name, values, **kw):
    ds = parent.create_dataset(name, data=strings(values), dtype=STR, **kw)
    enc(ds, "string-array", "0.2.0")
    return ds


def write_categorical(parent, name, codes, categories, ordered=False, **kw):
    g = parent.create_group(name)
    enc(g, "categorical", "0.2.0")
    g.attrs["ordered"] = bool(ordered)
    codes = np.asarray(codes)
    n_cat = len(categories)
    dt = np.int8 if n_cat <= 127 else np.int16 if n_cat <= 32767 else np.int32
    write_array(g, "codes", codes.astype(dt), **kw)
    if isinstance(categories, np.ndarray) and categories.dtype.kind in "iufb":
        write_array(g, "categories", categories, **kw)
    else:
        write_string_array(g, "categories", categories, **kw)
    return g


def write_nullable(parent, name, kind, values, mask, **kw):
    g = parent.create_group(name)
    enc(g, kind, "0.1.0")
    if kind == "nullable-string-array":
        write_string_array(g, "values", values, **kw)
        g.attrs["na-value"] = "NA"
    else:
        write_array(g, "values", values, **kw)
    write_array(g, "mask", np.asarray(mask, dtype=bool), **kw)
    return g


def write_sparse(parent, name, m, fmt="csr", **kw):
    """m: a dense numpy matrix; stored entries are its non-zeros."""
    m = np.asarray(m)
    g = parent.create_group(name)
    enc(g, f"{fmt}_matrix", "0.1.0")
    g.attrs["shape"] = np.array(m.shape, dtype=np.int64)
    mm = m if fmt == "csr" else m.T
    indptr = [0]
    indices, data = [], []
    for row in mm:
        nz = np.nonzero(row)[0]
        indices.extend(nz.tolist())
        data.extend(row[nz].tolist())
        indptr.append(len(indices))
    g.create_dataset("data", data=np.array(data, dtype=m.dtype), maxshape=(None,), **kw)
    g.create_dataset("indices", data=np.array(indices, dtype=np.int32), maxshape=(None,), **kw)
    g.create_dataset("indptr", data=np.array(indptr, dtype=np.int32), maxshape=(None,), **kw)
    return g


def write_sparse_raw(parent, name, shape, data, indices, indptr, fmt="csr", **kw):
    g = parent.create_group(name)
    enc(g, f"{fmt}_matrix", "0.1.0")
    g.attrs["shape"] = np.array(shape, dtype=np.int64)
    g.create_dataset("data", data=data, maxshape=(None,), **kw)
    g.create_dataset("indices", data=indices, maxshape=(None,), **kw)
    g.create_dataset("indptr", data=indptr, maxshape=(None,), **kw)
    return g


def write_dataframe(parent, name, index, columns, index_name="_index", index_writer=None, **kw):
    """columns: list of (key, writer) where writer(group, key) writes the element
    (the key may contain '/', which makes nested groups). A key given as bytes
    is stored as those bytes in column-order and as the link name."""
    g = parent.create_group(name)
    enc(g, "dataframe", "0.2.0")
    g.attrs["_index"] = index_name
    keys = [k for k, _ in columns]
    if keys:
        g.attrs.create("column-order", strings(keys), dtype=STR)
    else:
        g.attrs["column-order"] = np.zeros(0, dtype=np.float64)  # what h5py writes for []
    if index_writer:
        index_writer(g, index_name)
    else:
        write_string_array(g, index_name, index, **kw)
    for key, writer in columns:
        if writer is not None:
            writer(g, key)
    return g


def dict_group(parent, name):
    g = parent.create_group(name)
    enc(g, "dict", "0.1.0")
    return g


# --------------------------------------------------------------------------
# the common synthetic data

class Base:
    """Clustered cells: UMAP, PCA, a kNN graph and an expression matrix."""

    def __init__(self, seed, n=N_DEFAULT, g=G_DEFAULT, k_clusters=5):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.n, self.g = n, g
        self.cluster = np.sort(rng.integers(0, k_clusters, n))
        rng.shuffle(self.cluster)
        centers = rng.normal(0, 6, (k_clusters, 2))
        self.umap = (centers[self.cluster] + rng.normal(0, 1.0, (n, 2))).astype(np.float64)
        pcs = rng.normal(0, 3, (k_clusters, 10))
        self.pca = (pcs[self.cluster] + rng.normal(0, 1, (n, 10))).astype(np.float32)
        self.conn = knn_graph(self.pca.astype(np.float64), 8)
        rates = rng.gamma(1.0, 1.0, (k_clusters, g))
        counts = rng.poisson(rates[self.cluster] * 2.0)
        counts[:, 0] = 0                      # a gene with no expression (constant)
        self.counts = counts.astype(np.int32)
        self.X = np.log1p(counts).astype(np.float32)
        self.var_names = [f"G{i:02d}" for i in range(g)]
        self.var_names[1:4] = ["CD3D", "LYZ", "MS4A1"]
        self.cells = [f"cell{i:04d}" for i in range(n)]
        self.score = rng.normal(0, 1, n).astype(np.float32)


def knn_graph(points, k):
    """A directed kNN graph (dense n×n, float64): row i holds its k neighbours
    with weights in (0, 1]; not symmetric, as scanpy's raw kNN is not."""
    n = len(points)
    d = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    m = np.zeros((n, n))
    nn = np.argsort(d, axis=1, kind="stable")[:, :k]
    for i in range(n):
        w = np.exp(-d[i, nn[i]] / (d[i, nn[i]].mean() + 1e-9))
        m[i, nn[i]] = np.round(w, 6)
    return m


def leiden_col(b):
    cats = [str(i) for i in range(int(b.cluster.max()) + 1)]
    return "leiden", lambda g, k: write_categorical(g, k, b.cluster, cats)


def score_col(b):
    return "score", lambda g, k: write_array(g, k, b.score)


def write_h5ad(path, b, obs_columns, *, var_names=None, X="dense", obsm_extra=None, obsm=None,
               conn="csr", raw=None, layers=None, obs_index_writer=None, var_columns=(),
               compression=None, root_attrs=True):
    """Write a modern (anndata 0.1.0) file from Base b."""
    kw = {"compression": compression} if compression else {}
    with h5py.File(path, "w") as f:
        if root_attrs:
            enc(f, "anndata", "0.1.0")
        write_dataframe(f, "obs", b.cells, obs_columns, index_writer=obs_index_writer, **kw)
        write_dataframe(f, "var", b.var_names if var_names is None else var_names,
                        list(var_columns), **kw)
        if callable(X):
            X(f)
        elif X == "dense":
            write_array(f, "X", b.X, **kw)
        elif X is not None:
            raise ValueError(X)
        om = dict_group(f, "obsm")
        entries = {"X_umap": b.umap, "X_pca": b.pca} if obsm is None else obsm
        for k, v in entries.items():
            write_array(om, k, v, **kw)
        for k, v in (obsm_extra or {}).items():
            write_array(om, k, v, **kw)
        op = dict_group(f, "obsp")
        if conn == "csr":
            write_sparse(op, "connectivities", b.conn, "csr", **kw)
        elif callable(conn):
            conn(op)
        dict_group(f, "varm")
        dict_group(f, "varp")
        lg = dict_group(f, "layers")
        for k, writer in (layers or {}).items():
            writer(lg, k)
        dict_group(f, "uns")
        if raw:
            raw(f)


# --------------------------------------------------------------------------
# the cases

CASES = []


def case(name, about, runs=None, warnings=None, refuse=None, hostile=False, filename=None):
    def deco(fn):
        CASES.append({"name": name, "file": filename or f"{name}.h5ad", "about": about,
                      "runs": runs or [{"suffix": "", "options": ""}],
                      "warnings": warnings or {"names": [], "index": []},
                      "refuse": refuse, "hostile": hostile, "fn": fn})
        return fn
    return deco


@case("nullable_int", "nullable-integer obs column (Int32 with a mask)")
def _(path):
    b = Base(1)
    vals = b.rng.integers(-5, 100, b.n).astype(np.int32)
    mask = b.rng.random(b.n) < 0.1
    vals[mask] = 1  # junk under the mask (anndata 0.8 wrote whatever was there)
    write_h5ad(path, b, [leiden_col(b),
                         ("n_int", lambda g, k: write_nullable(g, k, "nullable-integer", vals, mask)),
                         score_col(b)])


@case("nullable_bool", "nullable-boolean obs column")
def _(path):
    b = Base(2)
    vals = b.rng.random(b.n) < 0.4
    mask = b.rng.random(b.n) < 0.15
    write_h5ad(path, b, [leiden_col(b),
                         ("is_doublet", lambda g, k: write_nullable(g, k, "nullable-boolean", vals, mask))])


@case("nullable_string", "nullable-string-array obs column (anndata >= 0.11 encoding)")
def _(path):
    b = Base(3)
    pool = np.array(["B cell", "T cell", "NK", "Mono", "é-type", "Zeta", "alpha"])
    vals = pool[b.rng.integers(0, len(pool), b.n)].astype(object)
    mask = b.rng.random(b.n) < 0.1
    vals[mask] = ""
    write_h5ad(path, b, [("cell_type", lambda g, k: write_nullable(g, k, "nullable-string-array",
                                                                   list(vals), mask)),
                         score_col(b)])


@case("csc_x", "X as csc_matrix (with unsorted indices and explicit zeros)")
def _(path):
    b = Base(4)
    X = b.X.copy()
    X[b.rng.random(X.shape) < 0.5] = 0
    b.X = X

    def wx(f):
        csc = X.T  # column-major: one row per gene
        data, indices, indptr = [], [], [0]
        for j, col in enumerate(csc):
            nz = list(np.nonzero(col)[0])
            if j % 3 == 0 and len(nz) > 2:
                nz = nz[::-1]                # unsorted row indices
            if j % 4 == 1:
                nz.append(next(i for i in range(b.n) if col[i] == 0))   # an explicit zero
            indices.extend(nz)
            data.extend(col[nz].tolist())
            indptr.append(len(indices))
        write_sparse_raw(f, "X", X.shape, np.array(data, np.float32), np.array(indices, np.int32),
                         np.array(indptr, np.int64), "csc")
    write_h5ad(path, b, [leiden_col(b)], X=wx)


@case("csr_x_unsorted", "X as CSR with int64 indptr, unsorted indices, explicit zeros")
def _(path):
    b = Base(5)
    X = b.X.copy()
    X[b.rng.random(X.shape) < 0.6] = 0

    def wx(f):
        data, indices, indptr = [], [], [0]
        for i, row in enumerate(X):
            nz = list(np.nonzero(row)[0])
            if i % 2 == 0:
                nz = nz[::-1]
            if i % 5 == 0:
                z = [j for j in range(b.g) if row[j] == 0]
                if z:
                    nz.insert(0, z[0])
            indices.extend(nz)
            data.extend(row[nz].tolist())
            indptr.append(len(indices))
        write_sparse_raw(f, "X", X.shape, np.array(data, np.float32), np.array(indices, np.int32),
                         np.array(indptr, np.int64), "csr")
    write_h5ad(path, b, [leiden_col(b)], X=wx)


@case("int_x", "integer X (int32 counts), dense")
def _(path):
    b = Base(6)
    write_h5ad(path, b, [leiden_col(b)], X=lambda f: write_array(f, "X", b.counts))


@case("f64_x", "float64 X, dense, with a NaN and an Inf",
      runs=[{"suffix": "", "options": ""},
            {"suffix": "-f32", "options": "compression=0,var_quantization=none"}])
def _(path):
    b = Base(7)
    X = b.X.astype(np.float64) * 1.000001
    X[3, 5] = np.nan
    X[4, 6] = np.inf
    write_h5ad(path, b, [leiden_col(b)], X=lambda f: write_array(f, "X", X))


@case("raw_x", "raw/X (CSR) with raw/var holding more genes than var",
      runs=[{"suffix": "", "options": ""}, {"suffix": "-raw", "options": "expression=raw"}])
def _(path):
    b = Base(8, g=20)
    rng = b.rng
    raw_names = b.var_names + [f"RAW{i}" for i in range(25)]
    rawX = np.log1p(rng.poisson(1.0, (b.n, len(raw_names)))).astype(np.float32)

    def wraw(f):
        r = f.create_group("raw")
        enc(r, "raw", "0.1.0")
        write_sparse(r, "X", rawX, "csr")
        write_dataframe(r, "var", raw_names, [])
        dict_group(r, "varm")
    write_h5ad(path, b, [leiden_col(b)], raw=wraw)


@case("layers", "layers (dense int32 and CSR float32) next to X",
      runs=[{"suffix": "", "options": ""}, {"suffix": "-counts", "options": "expression=layer:counts"},
            {"suffix": "-spliced", "options": "expression=layer:spliced"},
            {"suffix": "-nolayer", "options": "expression=layer:nope", "refuse": "nope"}])
def _(path):
    b = Base(9)
    sp = np.where(b.rng.random((b.n, b.g)) < 0.7, 0, b.rng.random((b.n, b.g))).astype(np.float32)
    write_h5ad(path, b, [leiden_col(b)], layers={
        "counts": lambda g, k: write_array(g, k, b.counts),
        "spliced": lambda g, k: write_sparse(g, k, sp, "csr")})


@case("slash_keys", "obs column names with '/' (nested attribute-less groups)")
def _(path):
    b = Base(10)
    cats = ["x/y", "p/q", "r"]
    write_h5ad(path, b, [
        ("qc/pct_mito", lambda g, k: write_array(g, k, b.rng.random(b.n).astype(np.float32))),
        ("qc/n_genes", lambda g, k: write_array(g, k, b.rng.integers(100, 900, b.n))),
        ("anno/leiden", lambda g, k: write_categorical(g, k, b.cluster % 3, cats)),
        score_col(b)])


@case("empty_column_order", "obs without columns: column-order is float64[0]")
def _(path):
    b = Base(11)
    write_h5ad(path, b, [])


@case("index_group", "obs and var indexes stored as nullable-string-array groups")
def _(path):
    b = Base(12)

    def idx(values):
        return lambda g, k: write_nullable(g, k, "nullable-string-array", values, np.zeros(len(values), bool))
    write_h5ad(path, b, [leiden_col(b), score_col(b)], obs_index_writer=idx(b.cells))
    with h5py.File(path, "r+") as f:  # the var index too
        del f["var"]
        write_dataframe(f, "var", b.var_names, [], index_writer=idx(b.var_names))


@case("int64_categories", "categorical with int64 categories (written as str(): '0', '1', ...)")
def _(path):
    b = Base(13)
    cats = np.array([3, 10, 42, -7, 100000000000], dtype=np.int64)
    codes = b.rng.integers(0, len(cats), b.n)
    write_h5ad(path, b, [("batch", lambda g, k: write_categorical(g, k, codes, cats)), leiden_col(b)])


@case("number_categories", "categoricals of float32, float64 and bool values (JSON numbers and booleans in "
      "layout=index); NaN, 2^53 and a -0.0/0.0 pair as categories (left out of layout=index); "
      "a gene with no value (listed nowhere)",
      warnings={"names": [r"1 gene with no finite value in any cell left out of var_manifest.json: G05"], "index": [
          r"1 gene with no finite value in any cell left out of var_manifest.json: G05",
          r"obs field 'nan_cat' left out of layout=index: a category is not a finite number",
          r"obs field 'big_int' left out of layout=index: a category is an integer beyond",
          r"obs field 'zeros' left out of layout=index: two of its categories are the same value"]})
def _(path):
    b = Base(23)
    b.X[:, 5] = np.nan
    codes = b.cluster % 3
    cats = {"f32": np.array([0.1, 1.0, 2.5], np.float32), "f64": np.array([1.0, 1e-05, -0.5]),
            "flag": np.array([False, True]), "nan_cat": np.array([0.5, np.nan, 2.0]),
            "big_int": np.array([1, 2, 2 ** 53], np.int64), "zeros": np.array([-0.0, 0.0, 1.0])}
    write_h5ad(path, b, [(k, lambda g, k, v=v: write_categorical(g, k, codes % (2 if k == "flag" else 3), v))
                         for k, v in cats.items()] + [leiden_col(b)])


@case("unused_categories", "categorical whose stored categories include unused ones")
def _(path):
    b = Base(14)
    cats = ["unused_first", "a", "zz_unused", "b", "c", "never"]
    codes = np.array([1, 3, 4])[b.rng.integers(0, 3, b.n)]
    write_h5ad(path, b, [("grp", lambda g, k: write_categorical(g, k, codes, cats)), leiden_col(b)])


@case("missing_codes", "categorical with missing codes (-1), a category with < 10 cells, empty categories",
      runs=[{"suffix": "", "options": ""}, {"suffix": "-latent", "options": "latent=X_umap"},
            {"suffix": "-q16", "options": "obs_quantization=16"}])
def _(path):
    b = Base(15)
    codes = b.cluster.copy().astype(np.int64)
    codes[b.rng.random(b.n) < 0.12] = -1
    rare = np.array(["common", "rare"])[(b.rng.random(b.n) < 0.03).astype(int)]
    rare_codes = (rare == "rare").astype(int)
    write_h5ad(path, b, [
        ("leiden_na", lambda g, k: write_categorical(g, k, codes, [f"c{i}" for i in range(5)])),
        ("rare", lambda g, k: write_categorical(g, k, rare_codes, ["common", "rare"])),
        ("all_na", lambda g, k: write_categorical(g, k, np.full(b.n, -1), [])),
        score_col(b)])


@case("bad_codes", "categorical codes >= n_categories (treated as missing, h5ad-format §7.2)")
def _(path):
    b = Base(16)
    codes = b.cluster.copy()
    codes[::17] = 9          # only 5 categories
    write_h5ad(path, b, [("leiden_bad", lambda g, k: write_categorical(g, k, codes, [f"k{i}" for i in range(5)])),
                         score_col(b)])


@case("many_categories", "a categorical with 300 categories (uint16 codes) next to a uint8 one",
      runs=[{"suffix": "", "options": ""},
            {"suffix": "-f32", "options": "compression=0,obs_quantization=none"}])
def _(path):
    b = Base(17, n=300)
    codes = np.arange(b.n) % 300
    b.rng.shuffle(codes)
    write_h5ad(path, b, [("barcode_cat", lambda g, k: write_categorical(g, k, codes, [f"bc{i:03d}" for i in range(300)])),
                         leiden_col(b)])


@case("plain_columns", "bool, string-array, uint8, int64, float64 with NaN/Inf, constant and all-NaN columns",
      runs=[{"suffix": "", "options": ""},
            {"suffix": "-q16", "options": "compression=1,var_quantization=16,obs_quantization=16"},
            {"suffix": "-f32", "options": "compression=0,var_quantization=none,obs_quantization=none"},
            {"suffix": "-keys", "options": "obs_keys=label:f64:leiden", "warnings": {"names": [], "index": []}},
            {"suffix": "-badkey", "options": "obs_keys=label:nope", "refuse": "nope"}],
      warnings={"names": [r"all_nan"], "index": [r"all_nan"]})
def _(path):
    b = Base(18)
    rng = b.rng
    f64 = rng.normal(10, 3, b.n)
    f64[::13] = np.nan
    f64[5] = np.inf
    f64[6] = -np.inf
    words = np.array(["b", "a", "B", "é", "Z", "", "a b", "10", "9"])
    strs = words[rng.integers(0, len(words), b.n)]
    write_h5ad(path, b, [
        ("flag", lambda g, k: write_array(g, k, rng.random(b.n) < 0.3)),
        ("label", lambda g, k: write_string_array(g, k, list(strs))),
        ("u8", lambda g, k: write_array(g, k, rng.integers(0, 255, b.n).astype(np.uint8))),
        ("i64", lambda g, k: write_array(g, k, rng.integers(-10**12, 10**12, b.n))),
        ("f64", lambda g, k: write_array(g, k, f64)),
        ("constant", lambda g, k: write_array(g, k, np.full(b.n, 2.5, np.float32))),
        ("all_nan", lambda g, k: write_array(g, k, np.full(b.n, np.nan, np.float32))),
        ("all_true", lambda g, k: write_array(g, k, np.ones(b.n, bool))),
        leiden_col(b)])


@case("lzf", "every dataset LZF-compressed (filter 32000)")
def _(path):
    b = Base(19)
    X = b.X.copy()
    X[b.rng.random(X.shape) < 0.5] = 0
    write_h5ad(path, b, [leiden_col(b), score_col(b),
                         ("label", lambda g, k: write_string_array(g, k, [f"s{c}" for c in b.cluster], compression="lzf"))],
               X=lambda f: write_sparse(f, "X", X, "csr", compression="lzf"), compression="lzf")


@case("gzip_chunked_x", "dense X chunked in small tiles with gzip, obsm float32 UMAP")
def _(path):
    b = Base(20)
    write_h5ad(path, b, [leiden_col(b)],
               X=lambda f: write_array(f, "X", b.X, chunks=(17, 7), compression="gzip", compression_opts=4),
               obsm={"X_umap": b.umap.astype(np.float32), "X_pca": b.pca})


@case("legacy_compound", "legacy (anndata <= 0.6) layout: compound obs/var/obsm, uns/<col>_categories, "
      "uns/neighbors graph, h5sparse")
def _(path):
    b = Base(21)
    n = b.n
    cats = np.array([b"T", b"B", b"NK", b"Mono", b"DC"])
    phase = b.rng.integers(0, 3, n)
    with h5py.File(path, "w") as f:
        obs_t = np.dtype([("index", "S16"), ("louvain", "i1"), ("phase", "i1"), ("n_genes", "<i8"),
                          ("pct", "<f4"), ("nocat", "i1")])
        obs = np.zeros(n, obs_t)
        obs["index"] = [c.encode() for c in b.cells]
        obs["louvain"] = b.cluster
        obs["phase"] = phase
        obs["n_genes"] = b.rng.integers(500, 3000, n)
        obs["pct"] = b.rng.random(n).astype(np.float32)
        obs["nocat"] = b.rng.integers(0, 4, n)          # codes without categories: numeric
        f.create_dataset("obs", data=obs, compression="gzip")
        var_t = np.dtype([("index", "S13"), ("means", "<f4"), ("highly_variable", "?")])
        var = np.zeros(b.g, var_t)
        var["index"] = [v.encode() for v in b.var_names]
        var["means"] = b.X.mean(0)
        var["highly_variable"] = np.arange(b.g) % 2 == 0
        f.create_dataset("var", data=var, compression="gzip")
        f.create_dataset("X", data=b.X, compression="gzip", chunks=(50, 10))
        obsm_t = np.dtype([("X_pca", "<f4", (10,)), ("X_umap", "<f8", (2,))])
        obsm = np.zeros(n, obsm_t)
        obsm["X_pca"] = b.pca
        obsm["X_umap"] = b.umap
        f.create_dataset("obsm", data=obsm, compression="gzip")
        uns = f.create_group("uns")
        uns.create_dataset("louvain_categories", data=cats)
        uns.create_dataset("phase_categories", data=np.array([b"G1", b"G2M", b"S"]))
        uns.create_dataset("nocat_categories", data=np.array([b"a", b"b"]))   # codes go to 3: not applied
        nb = uns.create_group("neighbors")
        c = b.conn
        g = nb.create_group("connectivities")
        g.attrs["h5sparse_format"] = "csr"
        g.attrs["h5sparse_shape"] = np.array([n, n], np.int64)
        indptr, indices, data = [0], [], []
        for row in c:
            nz = np.nonzero(row)[0]
            indices.extend(nz.tolist())
            data.extend(row[nz].tolist())
            indptr.append(len(indices))
        g.create_dataset("data", data=np.array(data), maxshape=(None,))
        g.create_dataset("indices", data=np.array(indices, np.int32), maxshape=(None,))
        g.create_dataset("indptr", data=np.array(indptr, np.int32), maxshape=(None,))


@case("velocity", "vector field obsm velocity_umap (2 columns) next to X_umap")
def _(path):
    b = Base(22)
    vel = b.rng.normal(0, 0.5, (b.n, 2))
    write_h5ad(path, b, [leiden_col(b)], obsm_extra={"velocity_umap": vel})


@case("umap_3d", "X_umap_3d and X_umap (2 columns): two dimensions, default 3; explicit 3-D velocity")
def _(path):
    b = Base(23)
    u3 = np.concatenate([b.umap, b.rng.normal(0, 2, (b.n, 1))], axis=1)
    write_h5ad(path, b, [leiden_col(b), score_col(b)],
               obsm_extra={"X_umap_3d": u3, "velocity_umap_3d": b.rng.normal(0, 1, (b.n, 3)).astype(np.float32)})


@case("nonfinite_umap", "NaN/Inf in X_umap for some cells: left out of min/max, written as 0",
      warnings={"names": [r"(?i)finite"], "index": [r"(?i)finite"]})
def _(path):
    b = Base(24)
    u = b.umap.copy()
    u[7, 0] = np.nan
    u[8, 1] = np.inf
    write_h5ad(path, b, [score_col(b)], obsm={"X_umap": u, "X_pca": b.pca})


@case("graph_explicit_zeros", "connectivities with explicit zeros, self-loops and CSC storage")
def _(path):
    b = Base(25)
    c = b.conn.copy()
    np.fill_diagonal(c, 0)
    c[0, 0] = 1.0               # a self-loop: counted in max_neighbors, never an edge

    def wc(op):
        # CSC storage of C, with one explicit zero stored at (1, 2) when it is not an edge.
        csc = c.T
        data, indices, indptr = [], [], [0]
        for j, col in enumerate(csc):
            nz = list(np.nonzero(col)[0])
            if j == 2 and c[1, 2] == 0 and c[2, 1] == 0:
                nz.append(1)
                nz.sort()
            indices.extend(nz)
            data.extend(col[nz].tolist())
            indptr.append(len(indices))
        write_sparse_raw(op, "connectivities", c.shape, np.array(data), np.array(indices, np.int32),
                         np.array(indptr, np.int32), "csc")
    write_h5ad(path, b, [leiden_col(b)], conn=wc)


@case("gene_ids", "var columns as gene names: gene_id_column= a string-array, a categorical, an int64 column",
      runs=[{"suffix": "", "options": ""},
            {"suffix": "-ensembl", "options": "gene_id_column=ensembl"},
            {"suffix": "-symbol", "options": "gene_id_column=symbol"},
            {"suffix": "-num", "options": "gene_id_column=num"},
            {"suffix": "-nocol", "options": "gene_id_column=nope", "refuse": "nope"}])
def _(path):
    b = Base(29)
    ens = [f"ENSG{1000 + 7 * i:011d}" for i in range(b.g)]
    sym_codes = np.arange(b.g) % 25
    syms = [f"SYM{i}" for i in range(25)]
    write_h5ad(path, b, [leiden_col(b)], var_columns=[
        ("ensembl", lambda g, k: write_string_array(g, k, ens)),
        ("symbol", lambda g, k: write_categorical(g, k, sym_codes, syms)),
        ("num", lambda g, k: write_array(g, k, np.arange(b.g, dtype=np.int64) * 3 - 4))])


@case("no_x", "no X: no genes, no var_manifest.json")
def _(path):
    b = Base(26)
    write_h5ad(path, b, [leiden_col(b)], X=None)


@case("zero_cells", "0 cells: must be refused", refuse="cell")
def _(path):
    b = Base(27)
    b.n = 0
    b.cells = []
    b.umap = b.umap[:0]
    b.pca = b.pca[:0]
    b.X = b.X[:0]
    b.conn = np.zeros((0, 0))
    write_h5ad(path, b, [])


@case("odd file name", "a file name with spaces and parentheses: id is its safe name",
      runs=[{"suffix": "", "options": ""},
            {"suffix": "-named", "options": "dataset_id=my-id,dataset_name=My data,host=example.org,port=9000"}],
      filename="odd file (v2).h5ad")
def _(path):
    b = Base(28)
    write_h5ad(path, b, [leiden_col(b)])


# ---- hostile names

@case("hostile_collision", "obs keys 'pct mito' and 'pct_mito' collide after safe naming",
      warnings={"names": [r"pct.mito"], "index": []}, hostile=True)
def _(path):
    b = Base(30)
    write_h5ad(path, b, [
        ("pct mito", lambda g, k: write_array(g, k, b.rng.random(b.n).astype(np.float32))),
        ("pct_mito", lambda g, k: write_array(g, k, b.rng.random(b.n).astype(np.float32) + 5)),
        leiden_col(b)])


LONG_KEY = "long_" + "x" * 295


@case("hostile_long_key", "an obs key whose file name would pass 255 bytes (and one just under)",
      warnings={"names": [r"long_xxxxxxxxxx"], "index": []}, hostile=True)
def _(path):
    b = Base(31)
    ok_key = "k" * (255 - len(".values.u8.gz"))   # exactly 255 bytes with the default settings
    write_h5ad(path, b, [
        (LONG_KEY, lambda g, k: write_array(g, k, b.score)),
        (ok_key, lambda g, k: write_array(g, k, b.score * 2)),
        leiden_col(b)])


@case("hostile_paths", "obs keys '..', 'a/../b', 'x/../../up', './dot', 'back\\\\slash', '%2e%2e', '...'",
      warnings={"names": [r"\.\.\."], "index": []}, hostile=True)
def _(path):
    b = Base(32)
    r = b.rng
    write_h5ad(path, b, [
        ("..", lambda g, k: write_array(g, k, r.random(b.n).astype(np.float32))),
        ("a/../b", lambda g, k: write_array(g, k, r.random(b.n).astype(np.float32))),
        ("x/../../up", lambda g, k: write_array(g, k, r.random(b.n).astype(np.float32))),
        ("./dot", lambda g, k: write_array(g, k, r.random(b.n).astype(np.float32))),
        ("back\\slash", lambda g, k: write_array(g, k, r.random(b.n).astype(np.float32))),
        ("%2e%2e", lambda g, k: write_array(g, k, r.random(b.n).astype(np.float32))),
        ("...", lambda g, k: write_array(g, k, r.random(b.n).astype(np.float32))),  # safe name 'field' again
        leiden_col(b)])


@case("hostile_empty_key", "an empty key in column-order (no element can have that name) and a blank key '   '",
      warnings={"names": [r"''|\"\"|empty|missing|not found"], "index": [r"   |empty|blank|whitespace"]},
      hostile=True)
def _(path):
    b = Base(33)
    write_h5ad(path, b, [
        ("", None),
        ("   ", lambda g, k: write_array(g, k, b.score)),
        leiden_col(b)])


@case("hostile_control", "obs keys and categories with control characters, whitespace at the ends",
      warnings={"names": [], "index": [r"lead|trail"]}, hostile=True)
def _(path):
    b = Base(34)
    cats = ["tab\there", "nl\nthere", "bell\x07", "nul-free\x1f", "del\x7f"]
    write_h5ad(path, b, [
        ("ctl\x01key", lambda g, k: write_array(g, k, b.score)),
        ("new\nline", lambda g, k: write_categorical(g, k, b.cluster, cats)),
        (" lead", lambda g, k: write_array(g, k, b.score + 1)),
        ("trail\t", lambda g, k: write_array(g, k, b.score + 2))])


@case("hostile_quotes", "obs keys and categories with quotes, backslashes, HTML and JSON syntax",
      hostile=True)
def _(path):
    b = Base(35)
    cats = ['say "hi"', "it's", "back\\slash", "<script>", "{\"k\": [1]}"]
    write_h5ad(path, b, [
        ('q"uote', lambda g, k: write_array(g, k, b.score)),
        ("it's", lambda g, k: write_categorical(g, k, b.cluster, cats)),
        ("{json}: [1,2]", lambda g, k: write_array(g, k, b.score * 3))])


@case("hostile_non_utf8", "non-UTF-8 bytes in obs keys, column-order and categories",
      warnings={"names": [r"(?i)utf-?8|U\+FFFD", r"bad"], "index": [r"(?i)utf-?8|U\+FFFD", r"twice|same|dup"]},
      hostile=True)
def _(path):
    b = Base(36)
    cats = [b"ok", b"caf\xe9", b"\xff\xfe", b"x\x80", b"fine"]
    write_h5ad(path, b, [
        (b"bad\xff", lambda g, k: write_array(g, k, b.score)),
        (b"bad\xfe", lambda g, k: write_array(g, k, b.score + 1)),   # same text after repair
        (b"lat\xe9", lambda g, k: write_categorical(g, k, b.cluster, cats)),
        ("dup_cats", lambda g, k: write_categorical(g, k, b.cluster % 2, [b"y\xff", b"y\xfe"])),
        leiden_col(b)])


@case("hostile_genes", "gene names: duplicates, '/', '..', empty, control, quotes, non-UTF-8, "
      "too long, colliding after safe naming",
      warnings={"names": [r"CD3D|twice|already|collid", r"(?i)utf-?8|U\+FFFD", r"GGGGGGGGGG"],
                "index": [r"CD3D|twice|dup", r"empty"]}, hostile=True)
def _(path):
    b = Base(37, g=20)
    names = ["CD3D", "CD3D", "a/b", "..", "", "x\x01y", 'q"u', b"\xffgene", "caf\u00e9",
             "G" * 300, "pct mito", "pct_mito", "../../etc/passwd", "/abs", "ok1", "ok2",
             " sp ", "%41", "CON", "dup"]
    assert len(names) == b.g
    write_h5ad(path, b, [leiden_col(b)], var_names=names)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    meta = []
    for c in CASES:
        path = os.path.join(out, c["file"])
        if os.path.exists(path):
            os.unlink(path)
        c["fn"](path)
        meta.append({k: v for k, v in c.items() if k != "fn"})
    with open(os.path.join(out, "cases.json"), "w") as fh:
        json.dump(meta, fh, indent=1, ensure_ascii=True)
    print(f"{len(meta)} cases written to {out}")


if __name__ == "__main__":
    main()
