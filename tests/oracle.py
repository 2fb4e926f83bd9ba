#!/usr/bin/python3
"""An independent oracle for a cellucidfs mount.

usage: oracle.py MOUNT H5AD [--option k=v ...] [--label L] [--reader auto|anndata|h5py]
                 [--log FILE --expect-warning REGEX ...]
       oracle.py --batch FILE      (one check per line, tab-separated:
                 LABEL MOUNT H5AD OPTIONS LOG WARNINGS_JSON; OPTIONS is a comma list
                 of k=v as given to -o, or "-"; LOG "-" for none; WARNINGS_JSON a JSON
                 list of regexes, or "-")

It reads the .h5ad itself (anndata.read_h5ad; when anndata 0.8 cannot read the
file, an h5py reader that follows shared/spec/h5ad-format.md, and it says so),
computes with numpy what every file of the export must decode to, following
shared/spec/export-format.md (and viewer-contract-strict.md for layout=index),
and compares every file of the mounted tree with that. Nothing here comes from
the C code.

Prints "ok LABEL: GROUP ..." or "FAIL LABEL: GROUP ..." per group of files
(json, identity, obs, var, points, connectivity, vectors, handshake, tree,
warnings) and one "FAIL LABEL: FILE: what" per differing file; exits 1 when
anything failed.

Tolerances (shared/fixtures/README.md and the compatibility issue): codes and
edges exact; float32 within 1e-6 relative (1e-7 absolute near 0);
quantised values one step off on at most 0.1 % of cells; centroid positions
within 1e-5 with exact n_points; JSON numbers within 1e-6 relative.

Where the spec leaves a choice open, the oracle accepts what the spec allows
and says so in a comment (e.g. latent_key's text, a vector field's label in
the names layout, the centroid list's order).
"""
import argparse
import datetime
import gzip
import json
import math
import os
import re
import struct
import sys
import warnings

import h5py
import numpy as np
import scipy.sparse as sp

REFERENCE_MODE = False   # --reference: a folder written by the reference exporter (see main)
PREFERRED_LATENT = ["scanvi", "scvi", "X_scvi", "X_pca", "harmony", "X_harmony"]


# ==========================================================================
# text helpers

def fix_text(s):
    """Any stored text as the valid Unicode the JSON documents must hold:
    bytes that are not UTF-8 become U+FFFD (h5py hands attribute text back with
    surrogate escapes, datasets as bytes)."""
    if isinstance(s, (bytes, np.bytes_)):
        return bytes(s).decode("utf-8", "replace")
    if isinstance(s, str):
        try:
            s.encode("utf-8")
            return s
        except UnicodeEncodeError:
            return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return str(s)


def category_value(c):
    """A category as numpy's .item() gives it, the value the newest exporter
    writes as a JSON string, number or boolean (layout=index)."""
    if isinstance(c, (bytes, np.bytes_, str)):
        return fix_text(c)
    if isinstance(c, (bool, np.bool_)):
        return bool(c)
    if isinstance(c, np.integer):
        return int(c)
    if isinstance(c, np.float32):
        return Float32(c)
    if isinstance(c, np.floating):
        return float(c)
    return c


class Float32(float):
    """A float32 category widened to double: JSON writes the double, the
    names layout the float32's own shortest text."""


def unwritable_categories(cats):
    """Why layout=index leaves out a field with these categories (typed), or
    None: the strict viewer takes unique finite JSON scalars, read as doubles
    (viewer-contract-strict.md §3.3); the newest exporter refuses the rest."""
    if any(isinstance(c, float) and not np.isfinite(c) for c in cats):
        return "a category that is not a finite number"
    if any(isinstance(c, int) and not isinstance(c, bool) and abs(c) > 2 ** 53 - 1 for c in cats):
        return "an integer category beyond 2^53 - 1"
    if len(set(cats)) != len(cats):          # 0.0 == -0.0, as JavaScript's Set
        return "two categories with the same value"
    return None


def json_kind(v):
    return "bool" if isinstance(v, bool) else "int" if isinstance(v, int) else \
        "float" if isinstance(v, float) else type(v).__name__


def same_values(a, b):
    """Lists equal value for value and JSON type for type (1, 1.0 and True differ)."""
    return isinstance(a, list) and len(a) == len(b) and \
        all(json_kind(x) == json_kind(y) and x == y for x, y in zip(a, b))


def category_text(c):
    """str() of a category value, as the 0.9 exporter writes it (names layout)."""
    if isinstance(c, (bytes, np.bytes_, str)):
        return fix_text(c)
    if isinstance(c, (bool, np.bool_)):
        return "True" if c else "False"
    if isinstance(c, (np.integer,)):
        return str(int(c))
    if isinstance(c, Float32):
        return str(np.float32(c))
    if isinstance(c, (np.floating,)):
        return str(float(c))
    return str(c)


def safe_name(key):
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")
    return s or "field"


JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009" \
           "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def js_trim(s):
    return s.strip(JS_SPACE)


# ==========================================================================
# the model of an .h5ad, from either reader

class Field:
    """One obs column: kind 'category' (categories: list of str, codes: int64,
    -1 missing) or 'continuous' (values: float32, NaN missing); or 'skip'
    (reason) for a column the export cannot show."""

    def __init__(self, key, kind, categories=None, codes=None, values=None, reason=None):
        self.key, self.kind = key, kind
        self.categories, self.codes, self.values, self.reason = categories, codes, values, reason


def category_from_values(values, missing):
    """Strings or booleans: the distinct present values, sorted (code points,
    False < True), as pandas astype('category')."""
    values = np.asarray(values, dtype=object)
    present = ~np.asarray(missing, dtype=bool)
    distinct = sorted(set(values[present].tolist()))
    pos = {v: i for i, v in enumerate(distinct)}
    codes = np.full(len(values), -1, dtype=np.int64)
    for i in np.nonzero(present)[0]:
        codes[i] = pos[values[i]]
    return [category_value(v) for v in distinct], codes


class Model:
    def __init__(self):
        self.n = 0
        self.fields = []          # list of Field, in column order
        self.obsm = {}            # key -> float64 (n, k) array, or None when not a dense array
        self.obsm_order = []
        self.var = {}             # source -> (names list, matrix getter)
        self.var_columns = {}     # source -> {column: list of str}
        self.conn = None          # scipy sparse or None
        self.reader = ""
        self.notes = []


def native_float(a):
    """obsm arrays keep float32 when stored so (the reference computes the
    latent distances in the stored precision); anything else is float64."""
    a = np.asarray(a)
    return a.astype(np.float32) if a.dtype == np.float32 else a.astype(np.float64)


def densify(m):
    if m is None:
        return None
    if sp.issparse(m):
        return m.toarray()
    return np.asarray(m)


# --------------------------------------------------------------------------
# anndata reader

def load_anndata(path):
    import anndata
    import pandas as pd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = anndata.read_h5ad(path)
    m = Model()
    m.reader = f"anndata {anndata.__version__}"
    m.n = a.n_obs
    for key in a.obs.columns:
        col = a.obs[key]
        k = fix_text(key)
        dt = col.dtype
        if isinstance(dt, pd.CategoricalDtype):
            cats = [category_value(c) for c in col.cat.categories]
            codes = col.cat.codes.to_numpy().astype(np.int64)
            m.fields.append(Field(k, "category", cats, codes))
        elif pd.api.types.is_bool_dtype(dt):   # bool and the nullable "boolean"
            missing = col.isna().to_numpy()
            vals = np.array([bool(v) if not mi else None for v, mi in zip(col.to_numpy(), missing)], dtype=object)
            cats, codes = category_from_values(vals, missing)
            m.fields.append(Field(k, "category", cats, codes))
        elif pd.api.types.is_numeric_dtype(dt):
            vals = col.to_numpy(dtype=np.float64, na_value=np.nan) if hasattr(col, "array") and \
                isinstance(col.array, pd.arrays.IntegerArray) else col.to_numpy()
            m.fields.append(Field(k, "continuous", values=np.asarray(vals).astype(np.float32)))
        elif pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt):
            missing = col.isna().to_numpy()
            vals = np.array([fix_text(v) if not mi else None for v, mi in zip(col.to_numpy(), missing)],
                            dtype=object)
            cats, codes = category_from_values(vals, missing)
            m.fields.append(Field(k, "category", cats, codes))
        else:
            m.fields.append(Field(k, "skip", reason=f"dtype {dt}"))
    for key in a.obsm.keys():
        v = a.obsm[key]
        m.obsm_order.append(key)
        if isinstance(v, np.ndarray) and v.dtype.kind in "iuf":
            m.obsm[key] = native_float(v.reshape(-1, 1) if v.ndim == 1 else v)
        else:
            m.obsm[key] = None
    m.var["X"] = ([fix_text(x) for x in a.var_names], lambda: a.X)
    m.var_columns["X"] = {c: [category_text(x) for x in a.var[c].to_numpy()] for c in a.var.columns}
    if a.raw is not None:
        m.var["raw"] = ([fix_text(x) for x in a.raw.var_names], lambda: a.raw.X)
        m.var_columns["raw"] = {c: [category_text(x) for x in a.raw.var[c].to_numpy()] for c in a.raw.var.columns}
    for name in a.layers.keys():
        m.var[f"layer:{name}"] = (m.var["X"][0], lambda name=name: a.layers[name])
        m.var_columns[f"layer:{name}"] = m.var_columns["X"]
    if "connectivities" in a.obsp:
        m.conn = sp.csr_matrix(a.obsp["connectivities"])
    return m


# --------------------------------------------------------------------------
# h5py reader (h5ad-format.md), for what anndata 0.8 cannot read

def attr_text(obj, name, default=None):
    if name not in obj.attrs:
        return default
    v = obj.attrs[name]
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    return fix_text(v) if isinstance(v, (str, bytes, np.bytes_)) else v


def attr_names(obj, name):
    """column-order as raw bytes names: [] for an empty (float64[0]) array."""
    if name not in obj.attrs:
        return []
    v = obj.attrs[name]
    if isinstance(v, (str, bytes)):
        v = [v]
    v = np.asarray(v)
    if v.size == 0 or v.dtype.kind in "iuf":
        return []
    out = []
    for s in v.reshape(-1).tolist():
        if isinstance(s, str):
            s = s.encode("utf-8", "surrogateescape")
        out.append(bytes(s))
    return out


def read_strings(ds):
    raw = ds[()]
    if np.ndim(raw) == 0:
        raw = [raw]
    return [fix_text(x) for x in np.asarray(raw, dtype=object).reshape(-1).tolist()]


def read_index_length_and_values(elem):
    """An index element (string-array, numeric, categorical or nullable group)."""
    if isinstance(elem, h5py.Dataset):
        if elem.dtype.kind in "SOU":
            return read_strings(elem)
        return [category_text(x) for x in elem[()]]
    et = attr_text(elem, "encoding-type")
    if et == "nullable-string-array":
        return read_strings(elem["values"])
    if et == "categorical":
        cats = read_strings(elem["categories"]) if elem["categories"].dtype.kind in "SO" else \
            [category_text(x) for x in elem["categories"][()]]
        return [cats[c] if 0 <= c < len(cats) else "" for c in elem["codes"][()]]
    raise ValueError(f"index element with encoding {et}")


def read_column(elem, n):
    """A dataframe column → ('category', cats, codes) / ('continuous', values) / ('skip', why)."""
    if isinstance(elem, h5py.Group):
        et = attr_text(elem, "encoding-type")
        if et == "categorical":
            cat_ds = elem["categories"]
            if cat_ds.dtype.kind in "SO":
                cats = read_strings(cat_ds)
            else:
                cats = [category_value(x) for x in cat_ds[()]]
            codes = elem["codes"][()].astype(np.int64)
            codes[(codes < 0) | (codes >= len(cats))] = -1
            return ("category", cats, codes)
        if et in ("nullable-integer", "nullable-boolean", "nullable-string-array"):
            mask = elem["mask"][()].astype(bool)
            if et == "nullable-integer":
                vals = elem["values"][()].astype(np.float32)
                vals[mask] = np.nan
                return ("continuous", vals)
            if et == "nullable-boolean":
                vals = np.array([bool(x) for x in elem["values"][()]], dtype=object)
            else:
                vals = np.array(read_strings(elem["values"]), dtype=object)
            cats, codes = category_from_values(vals, mask)
            return ("category", cats, codes)
        return ("skip", f"group with encoding {et}")
    ds = elem
    if "categories" in ds.attrs:                   # anndata 0.7: object reference
        ref = ds.attrs["categories"]
        cat_ds = ds.file[ref] if isinstance(ref, h5py.Reference) else ds.parent[fix_text(ref)]
        cats = read_strings(cat_ds) if cat_ds.dtype.kind in "SO" else [category_value(x) for x in cat_ds[()]]
        codes = ds[()].astype(np.int64)
        codes[(codes < 0) | (codes >= len(cats))] = -1
        return ("category", cats, codes)
    if ds.ndim != 1:
        return ("skip", f"{ds.ndim}-d dataset")
    if ds.dtype.kind in "SO" or h5py.check_string_dtype(ds.dtype):
        vals = np.array(read_strings(ds), dtype=object)
        cats, codes = category_from_values(vals, np.zeros(len(vals), bool))
        return ("category", cats, codes)
    if ds.dtype.kind == "b" or h5py.check_enum_dtype(ds.dtype):
        vals = np.array([bool(x) for x in ds[()]], dtype=object)
        cats, codes = category_from_values(vals, np.zeros(len(vals), bool))
        return ("category", cats, codes)
    if ds.dtype.kind in "iuf":
        return ("continuous", ds[()].astype(np.float32))
    return ("skip", f"dtype {ds.dtype}")


def read_matrix(elem):
    if isinstance(elem, h5py.Dataset):
        return elem[()]
    fmt = attr_text(elem, "encoding-type") or ""
    fmt = fmt.replace("_matrix", "") if fmt else attr_text(elem, "h5sparse_format")
    shape = elem.attrs.get("shape", elem.attrs.get("h5sparse_shape"))
    shape = tuple(int(x) for x in shape)
    indptr = elem["indptr"][()].astype(np.int64)
    nnz = int(indptr[-1])
    data = elem["data"][:nnz]
    indices = elem["indices"][:nnz].astype(np.int64)
    cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
    return cls((data, indices, indptr), shape=shape)


def read_dataframe_names_and_columns(g):
    """(index values, [(key_bytes, element or None)])."""
    index_name = attr_text(g, "_index", "_index")
    index = read_index_length_and_values(g[index_name])
    cols = []
    for name in attr_names(g, "column-order"):
        try:
            elem = g[name] if name else None
        except (KeyError, ValueError):
            elem = None
        cols.append((name, elem))
    return index, cols


def load_h5py(path):
    m = Model()
    m.reader = "h5py (h5ad-format.md)"
    f = h5py.File(path, "r")
    m._file = f
    if isinstance(f["obs"], h5py.Dataset):
        load_legacy(f, m)
        return m
    index, cols = read_dataframe_names_and_columns(f["obs"])
    m.n = len(index)
    for name, elem in cols:
        key = fix_text(name)
        if elem is None:
            m.fields.append(Field(key, "skip", reason="no element of that name"))
            continue
        r = read_column(elem, m.n)
        if r[0] == "category":
            m.fields.append(Field(key, "category", r[1], r[2]))
        elif r[0] == "continuous":
            m.fields.append(Field(key, "continuous", values=r[1]))
        else:
            m.fields.append(Field(key, "skip", reason=r[1]))
    if "obsm" in f:
        for key in f["obsm"]:
            v = f["obsm"][key]
            k = fix_text(key)
            m.obsm_order.append(k)
            if isinstance(v, h5py.Dataset) and v.dtype.kind in "iuf":
                a = v[()]
                m.obsm[k] = native_float(a.reshape(-1, 1) if a.ndim == 1 else a)
            else:
                m.obsm[k] = None
    vidx, vcols = read_dataframe_names_and_columns(f["var"])
    m.var["X"] = (vidx, (lambda: read_matrix(f["X"])) if "X" in f else (lambda: None))
    m.var_columns["X"] = {fix_text(k): column_text(e) for k, e in vcols if e is not None}
    if "raw" in f and "X" in f["raw"]:
        ridx, rcols = read_dataframe_names_and_columns(f["raw"]["var"])
        m.var["raw"] = (ridx, lambda: read_matrix(f["raw"]["X"]))
        m.var_columns["raw"] = {fix_text(k): column_text(e) for k, e in rcols if e is not None}
    if "layers" in f:
        for name in f["layers"]:
            m.var[f"layer:{fix_text(name)}"] = (vidx, lambda name=name: read_matrix(f["layers"][name]))
            m.var_columns[f"layer:{fix_text(name)}"] = m.var_columns["X"]
    if "obsp" in f and "connectivities" in f["obsp"]:
        m.conn = sp.csr_matrix(read_matrix(f["obsp"]["connectivities"]))
    elif "uns" in f and "neighbors" in f["uns"] and "connectivities" in f["uns"]["neighbors"]:
        m.conn = sp.csr_matrix(read_matrix(f["uns"]["neighbors"]["connectivities"]))
    return m


def column_text(elem):
    """A var column as gene names: str() of each value (numbers as Python writes them)."""
    if isinstance(elem, h5py.Dataset) and elem.ndim == 1 and elem.dtype.kind in "iuf" and \
            "categories" not in elem.attrs:
        return [category_text(x) for x in elem[()]]
    r = read_column(elem, None)
    if r[0] == "category":
        return [category_text(r[1][c]) if c >= 0 else "nan" for c in r[2]]
    if r[0] == "continuous":
        return [category_text(x) for x in r[1]]
    return None


def load_legacy(f, m):
    """anndata <= 0.6: compound obs/var/obsm, uns/<col>_categories, uns/neighbors."""
    obs = f["obs"][()]
    names = obs.dtype.names
    m.n = len(obs)
    uns = f["uns"] if "uns" in f else {}
    for col in names[1:]:
        vals = obs[col]
        key = fix_text(col)
        ck = f"{col}_categories"
        if ck in uns and vals.dtype.kind in "iu":
            cats = read_strings(uns[ck])
            if (vals < len(cats)).all():
                codes = vals.astype(np.int64)
                codes[codes < 0] = -1
                m.fields.append(Field(key, "category", cats, codes))
                continue
        if vals.dtype.kind in "SO":
            v = np.array([fix_text(x) for x in vals], dtype=object)
            cats, codes = category_from_values(v, np.zeros(len(v), bool))
            m.fields.append(Field(key, "category", cats, codes))
        elif vals.dtype.kind == "b":
            cats, codes = category_from_values(np.array([bool(x) for x in vals], dtype=object),
                                               np.zeros(len(vals), bool))
            m.fields.append(Field(key, "category", cats, codes))
        elif vals.dtype.kind in "iuf":
            m.fields.append(Field(key, "continuous", values=vals.astype(np.float32)))
        else:
            m.fields.append(Field(key, "skip", reason=f"dtype {vals.dtype}"))
    if "obsm" in f:
        om = f["obsm"]
        if isinstance(om, h5py.Dataset):
            arr = om[()]
            for k in arr.dtype.names:
                a = arr[k]
                m.obsm_order.append(k)
                m.obsm[k] = native_float(a.reshape(-1, 1) if a.ndim == 1 else a)
    var = f["var"][()]
    vnames = [fix_text(x) for x in var[var.dtype.names[0]]]
    m.var["X"] = (vnames, (lambda: read_matrix(f["X"])) if "X" in f else (lambda: None))
    m.var_columns["X"] = {fix_text(c): [category_text(x) for x in var[c]] for c in var.dtype.names[1:]}
    if "raw.X" in f:
        rv = f["raw.var"][()]
        m.var["raw"] = ([fix_text(x) for x in rv[rv.dtype.names[0]]], lambda: read_matrix(f["raw.X"]))
    if "obsp" in f and "connectivities" in f["obsp"]:
        m.conn = sp.csr_matrix(read_matrix(f["obsp"]["connectivities"]))
    elif "uns" in f and "neighbors" in f["uns"] and "connectivities" in f["uns"]["neighbors"]:
        m.conn = sp.csr_matrix(read_matrix(f["uns"]["neighbors"]["connectivities"]))


def load_model(path, reader):
    if reader in ("auto", "anndata"):
        try:
            return load_anndata(path)
        except Exception as e:  # noqa: BLE001 - any failure means "fall back"
            if reader == "anndata":
                raise
            m = load_h5py(path)
            m.reader += f"; anndata 0.8 cannot read this file ({type(e).__name__}: {str(e)[:100]})"
            return m
    return load_h5py(path)


# ==========================================================================
# the algorithms of export-format.md §3

def quantize(values, bits, layout):
    """(codes, min, max) as each layout's exporter: the 0.9 one (names) in
    float32 with truncation and [v, v + 1] for a constant field, the newest
    (index) floor((v - min) * scale + 1e-8) in float64 and [v, v]."""
    v = np.asarray(values, dtype=np.float32)
    top = 254 if bits == 8 else 65534
    missing = 255 if bits == 8 else 65535
    finite = np.isfinite(v)
    if finite.any():
        lo, hi = float(v[finite].min()), float(v[finite].max())
    else:
        lo, hi = 0.0, 1.0
    codes = np.full(v.shape, missing, dtype=np.uint8 if bits == 8 else np.uint16)
    if layout == "index":
        if hi == lo:
            codes[finite] = 0
            return codes, lo, hi
        q = (v[finite].astype(np.float64) - lo) * (top / (hi - lo)) + 1e-8
        codes[finite] = np.clip(q, 0, top).astype(codes.dtype)
        return codes, lo, hi
    if hi == lo:
        hi = lo + 1.0
    scale = np.float32(top / (hi - lo))
    with np.errstate(invalid="ignore", over="ignore"):
        q = (v[finite] - np.float32(lo)) * scale
    codes[finite] = np.clip(np.trunc(q), 0, top).astype(codes.dtype)
    return codes, lo, hi


def normalise(points, layout):
    """(normalised points, 2/range, number of non-finite cells).

    names: like the 0.9 reference, in float32 throughout: the coordinates are
    cast to float32 first (a double beyond float32's range is then
    non-finite), and min, max, range, center and (x - center) * (2 / range)
    are float32. The float64 route moves most pbmc68k points by an ulp and
    some by > 1e-6. index: the newest exporter's float64 route (the points
    are float64 here; they are written as float32)."""
    with np.errstate(over="ignore"):
        good = np.isfinite(np.asarray(points).astype(np.float32)).all(axis=1)
    if layout == "index":
        p = np.asarray(points).astype(np.float64)
        out = np.zeros(p.shape, dtype=np.float64)
        if good.any():
            lo, hi = p[good].min(axis=0), p[good].max(axis=0)
            rng = float((hi - lo).max()) or 1.0
            out[good] = (p[good] - (lo + hi) / 2) * (2.0 / rng)
        else:
            rng = 1.0
        return out, 2.0 / rng, int((~good).sum())
    with np.errstate(over="ignore"):
        p = np.asarray(points).astype(np.float32)
    if good.any():
        lo, hi = p[good].min(axis=0), p[good].max(axis=0)
    else:
        lo = hi = np.zeros(p.shape[1], dtype=np.float32)
    rng = (hi - lo).max()
    if rng < 1e-8:
        rng = np.float32(1.0)
    center = (lo + hi) / np.float32(2)
    scale = np.float32(2) / rng
    out = np.zeros(p.shape, dtype=np.float32)
    out[good] = (p[good] - center) * scale
    return out, scale, int((~good).sum())


def centroids(points, codes, categories):
    """[{category, position, n_points, alt_n}] for categories with >= 10 cells.
    alt_n: n_points when the distances are taken in float32 (ties at the
    threshold may fall either way)."""
    out = []
    pts = np.asarray(points, dtype=np.float64)
    for ci, cat in enumerate(categories):
        sel = pts[codes == ci]
        n = len(sel)
        if n < 10:
            continue
        mean = sel.mean(axis=0)
        entry = {"category": cat, "position": mean, "n_points": n, "alt": []}
        if n > 10:
            for dtype in (np.float64, np.float32):
                s = sel.astype(dtype)
                d = np.sqrt(((s - s.mean(axis=0)) ** 2).sum(axis=1))
                thr = np.quantile(d, 0.95)
                keep = d <= thr
                if keep.sum() >= 10:
                    res = (sel[keep].mean(axis=0), int(keep.sum()))
                else:
                    res = (mean, n)
                if dtype is np.float64:
                    entry["position"], entry["n_points"] = res
                else:
                    entry["alt"].append(res)
        out.append(entry)
    return out


def outlier_quantiles(latent, codes, n_categories):
    """In the latent space's stored precision (float32 for X_pca), as the
    reference: in float64, near-equal distances can swap ranks."""
    q = np.full(len(codes), np.nan, dtype=np.float32)
    if latent is None:
        return q
    lat = np.asarray(latent)
    for ci in range(n_categories):
        idx = np.nonzero(codes == ci)[0]
        n = len(idx)
        if n < 10:
            continue
        x = lat[idx]
        d = np.sqrt(((x - x.mean(axis=0)) ** 2).sum(axis=1))
        ds = np.sort(d)
        rank = np.searchsorted(ds, d, side="right")     # number of j with d_j <= d_i
        q[idx] = (rank / n).astype(np.float32)
    return q


def edges_of(conn, n):
    """src, dst, weights (of C + C^T), max row entries of S."""
    C = sp.csr_matrix(conn, dtype=np.float64)
    S = (C + C.T).tocsr()
    S.sum_duplicates()
    S.eliminate_zeros()           # an entry whose sum is 0 is not stored in S
    row_counts = np.diff(S.indptr)
    coo = S.tocoo()
    keep = coo.col > coo.row
    r, c, w = coo.row[keep], coo.col[keep], coo.data[keep]
    order = np.lexsort((c, r))
    return r[order].astype(np.int64), c[order].astype(np.int64), w[order], \
        int(row_counts.max()) if n else 0


def edges_max(conn):
    """layout=index: C[u, v] for u < v, the larger of the two sides where C
    is not symmetric (a side not stored is absent, each side's repeats
    summed), the pairs whose weight is not finite and > 0 and the diagonal
    left out."""
    coo = sp.coo_matrix(conn)
    r, c = coo.row.astype(np.int64), coo.col.astype(np.int64)
    w = coo.data.astype(np.float64)
    off = r != c
    r, c, w = r[off], c[off], w[off]
    u, v, side = np.minimum(r, c), np.maximum(r, c), (r < c).astype(np.int64)
    order = np.lexsort((side, v, u))
    u, v, side, w = u[order], v[order], side[order], w[order]
    if not len(u):
        return u, v, w
    first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1]) | (side[1:] != side[:-1])]
    starts = np.flatnonzero(first)
    u, v, w = u[starts], v[starts], np.add.reduceat(w, starts)   # one entry per side
    pair = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])]
    ps = np.flatnonzero(pair)
    nan = np.add.reduceat(np.isnan(w).astype(int), ps) > 0
    best = np.fmax.reduceat(w, ps)
    best[nan] = np.nan
    u, v = u[ps], v[ps]
    ok = np.isfinite(best) & (best > 0)
    return u[ok], v[ok], best[ok]


# ==========================================================================
# what the export must hold

class Options:
    def __init__(self, opts):
        self.raw = dict(opts)
        self.compression = int(opts.get("compression", 6))
        self.var_bits = self._bits(opts.get("var_quantization", "8"))
        self.obs_bits = self._bits(opts.get("obs_quantization", "8"))
        self.layout = opts.get("layout", "index")
        self.embedding = opts.get("embedding")
        self.latent = opts.get("latent")
        self.expression = opts.get("expression", "X")
        self.gene_id_column = opts.get("gene_id_column")
        self.obs_keys = opts["obs_keys"].split(":") if opts.get("obs_keys") else None
        self.dataset_id = opts.get("dataset_id")
        self.dataset_name = opts.get("dataset_name")
        self.host = opts.get("host", "127.0.0.1")
        self.port = int(opts.get("port", 8080))

    @staticmethod
    def _bits(v):
        return None if v == "none" else int(v)


class Expect:
    pass


def ext_of(bits):
    return {8: ("u8", "uint8"), 16: ("u16", "uint16"), None: ("f32", "float32")}[bits]


def build_expectation(m, opt, h5ad, layout):
    e = Expect()
    e.layout = layout
    e.n = m.n
    e.gz = ".gz" if opt.compression else ""
    e.compression = opt.compression or None
    e.notes = []

    # --- embeddings (§2)
    e.points, e.scale, e.nonfinite = {}, {}, {}
    if opt.embedding:
        arr = m.obsm.get(opt.embedding)
        if arr is None:
            raise ExpectRefusal(f"embedding={opt.embedding} is not a dense obsm array")
        d = min(3, arr.shape[1])
        sources = {d: arr[:, :d]}
    else:
        sources = {}
        for d in (1, 2, 3):
            a = m.obsm.get(f"X_umap_{d}d")
            if a is not None and a.shape[1] == d:
                sources[d] = a
        a = m.obsm.get("X_umap")
        if a is not None and a.shape[1] in (1, 2, 3) and a.shape[1] not in sources:
            sources[a.shape[1]] = a
    if not sources:
        raise ExpectRefusal("no embedding")
    for d, a in sorted(sources.items()):
        e.points[d], e.scale[d], e.nonfinite[d] = normalise(a, layout)
    e.dims = sorted(e.points)
    e.default_dim = max(e.dims)

    # --- latent space (§2)
    latent_key = None
    if opt.latent:
        latent_key = opt.latent
    else:
        for k in PREFERRED_LATENT:
            if m.obsm.get(k) is not None:
                latent_key = k
                break
        else:
            for k in m.obsm_order:
                if not k.startswith("X_umap") and m.obsm.get(k) is not None:
                    latent_key = k
                    break
    e.latent_key = latent_key
    latent = m.obsm.get(latent_key) if latent_key else None

    # --- obs fields
    ob = opt.obs_bits
    cext, cdtype = ext_of(ob)
    e.cont_ext, e.cont_dtype = cext, cdtype
    e.fields = []
    e.left_out = []
    used_safe, used_keys = set(), set()
    for f in m.fields:
        if opt.obs_keys is not None and f.key not in opt.obs_keys:
            continue
        if f.kind == "skip":
            e.left_out.append((f.key, f.reason))
            continue
        x = Expect()
        x.key, x.kind = f.key, f.kind
        if f.kind == "category":
            x.categories = f.categories if layout == "index" else [category_text(c) for c in f.categories]
            most = 0 if layout == "index" else 1   # codes besides the missing one, less this
            if len(f.categories) > 65535 - most:
                e.left_out.append((f.key, f"more than {65535 - most} categories"))
                continue
            x.codes_dtype = "uint8" if len(f.categories) <= 255 - most else "uint16"
            x.missing = 255 if x.codes_dtype == "uint8" else 65535
            codes = f.codes.copy()
            codes[(codes < 0) | (codes >= len(f.categories))] = -1
            x.codes_raw = codes
            x.codes = np.where(codes < 0, x.missing, codes).astype(x.codes_dtype)
            x.centroids = {d: centroids(e.points[d], codes, x.categories) for d in e.dims}
            x.outliers = outlier_quantiles(latent, codes, len(f.categories))
            if ob:
                x.out_codes, x.out_min, x.out_max = quantize(x.outliers, ob, layout)
        else:
            x.values = f.values.astype(np.float32)
            if ob:
                x.q_codes, x.q_min, x.q_max = quantize(x.values, ob, layout)
        # the names each layout can show
        if layout == "names" and x.kind == "continuous" and not np.isfinite(x.values).any():
            e.left_out.append((x.key, "no value in any cell"))
            continue
        if layout == "names":
            s = safe_name(x.key)
            if x.kind == "category":
                longest = max(len((s + f".codes.{'u8' if x.codes_dtype == 'uint8' else 'u16'}{e.gz}").encode()),
                              len((s + f".outliers.{cext}{e.gz}").encode()))
            else:
                longest = len((s + f".values.{cext}{e.gz}").encode())
            if longest > 255:
                e.left_out.append((x.key, "file name longer than 255 bytes"))
                continue
            if s in used_safe:
                e.left_out.append((x.key, f"safe name '{s}' already used"))
                continue
            used_safe.add(s)
            x.stem = s
        else:
            why = None
            if not x.key or js_trim(x.key) != x.key:
                why = "name empty or with surrounding whitespace"
            elif x.kind == "category" and unwritable_categories(x.categories):
                why = unwritable_categories(x.categories)
            elif x.kind == "continuous" and not np.isfinite(x.values).any():
                why = "no value in any cell"
            elif x.key in used_keys:
                why = "name used twice"
            if why:
                e.left_out.append((x.key, why))
                continue
            used_keys.add(x.key)
        e.fields.append(x)
    if layout == "index":   # payload numbers in column order, as the newest exporter
        for i, x in enumerate(e.fields):
            x.index = i
            x.stem = str(i)

    # --- genes
    source = opt.expression
    e.genes, e.genes_unlisted = [], []
    e.genes_left_out = []
    e.gene_id_column = opt.gene_id_column or "index"
    if source not in m.var:
        if source != "X":
            raise ExpectRefusal(f"expression={source} not in the file")
        names, getter = [], (lambda: None)
    else:
        names, getter = m.var[source]
        if opt.gene_id_column:
            names = m.var_columns[source][opt.gene_id_column]
    mat = getter()
    vb = opt.var_bits
    e.var_ext, e.var_dtype = ext_of(vb)
    if mat is not None and len(names):
        dense = densify(mat)
        if dense.shape != (m.n, len(names)):
            raise ExpectRefusal(f"matrix shape {dense.shape} != ({m.n}, {len(names)})")
        dense = dense.astype(np.float32)
        used = set()
        for j, name in enumerate(names):
            if layout == "names":
                s = safe_name(name)
                if len((s + f".values.{e.var_ext}{e.gz}").encode()) > 255:
                    e.genes_left_out.append((name, "file name longer than 255 bytes"))
                    continue
            else:
                s = name
                if not name:
                    e.genes_left_out.append((name, "empty name"))
                    continue
            if s in used:
                e.genes_left_out.append((name, "name already used"))
                continue
            used.add(s)
            g = Expect()
            g.name, g.stem, g.values = name, s, dense[:, j]
            if vb:
                g.q_codes, g.q_min, g.q_max = quantize(g.values, vb, layout)
            e.genes.append(g)
        # a gene with no finite value is left out, its file with it
        e.genes_unlisted = [g for g in e.genes if not np.isfinite(g.values).any()]
        e.genes = [g for g in e.genes if np.isfinite(g.values).any()]
        if layout == "index":
            for i, g in enumerate(e.genes):
                g.index, g.stem = i, str(i)

    # --- edges
    e.has_conn = m.conn is not None
    if e.has_conn:
        src, dst, w, maxn = edges_of(m.conn, m.n)
        if layout == "index":
            src, dst, w = edges_max(m.conn)
            deg = np.bincount(np.concatenate([src, dst]), minlength=m.n) if len(src) else np.zeros(1, int)
            maxn = int(deg.max())
            e.index_dtype = "uint16" if m.n <= 65536 else "uint32"
        else:
            e.index_dtype = "uint16" if m.n <= 65535 else "uint32"
        e.src, e.dst, e.weights, e.max_neighbors = src, dst, w, maxn

    # --- vector fields (§2): <field>_umap_<d>d explicit, <field>_umap implicit
    vf = {}
    for k in sorted(m.obsm):
        a = m.obsm[k]
        if a is None or k.startswith("X_"):
            continue
        mm = re.fullmatch(r"(.+_umap)_([123])d", k)
        if mm and a.shape[1] == int(mm.group(2)):
            vf.setdefault(mm.group(1), {})[int(mm.group(2))] = (a, True)
    for k in sorted(m.obsm):
        a = m.obsm[k]
        if a is None or k.startswith("X_") or not k.endswith("_umap"):
            continue
        if a.shape[1] in (1, 2, 3) and a.shape[1] not in vf.get(k, {}):
            vf.setdefault(k, {})[a.shape[1]] = (a, False)
    e.vectors = {}
    for fid in sorted(vf):
        dims = {d: a for d, (a, _) in vf[fid].items() if d in e.points and not opt.embedding}
        if dims:
            e.vectors[fid] = {d: (np.asarray(a, np.float64) * float(e.scale[d])).astype(np.float32)
                              for d, a in sorted(dims.items())}
    e.vector_default = ("velocity_umap" if "velocity_umap" in e.vectors else
                        (sorted(e.vectors)[0] if e.vectors else None))

    # --- identity
    base = os.path.basename(h5ad)
    stem = base[:-5] if base.endswith(".h5ad") else os.path.splitext(base)[0]
    e.id = opt.dataset_id or safe_name(stem)
    e.name = opt.dataset_name or stem
    e.created_at = datetime.datetime.fromtimestamp(int(os.stat(h5ad).st_mtime),
                                                   datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return e


class ExpectRefusal(Exception):
    pass


# ==========================================================================
# reading the mount

class Checker:
    def __init__(self, label):
        self.label = label
        self.failures = 0
        self.per_group = {}
        self.max_lines = 20

    def ok(self, text):
        print(f"ok {self.label}: {text}")

    def fail(self, text):
        self.failures += 1
        group = text.split("/")[0].split(":")[0]
        self.per_group[group] = self.per_group.get(group, 0) + 1
        if self.per_group[group] <= self.max_lines or text.split(":")[0] in (
                "json", "identity", "points", "obs", "var", "connectivity", "vectors", "handshake", "tree",
                "warnings", "layout"):
            print(f"FAIL {self.label}: {text}")
        elif self.per_group[group] == self.max_lines + 1:
            print(f"FAIL {self.label}: {group}: more differing files (only the first {self.max_lines} are shown)")

    def check(self, cond, text, why=""):
        if cond:
            self.ok(text)
        else:
            self.fail(text + (f": {why}" if why else ""))
        return cond


def strict_json(raw):
    """Parse as strict UTF-8 JSON: no NaN/Infinity, no duplicate keys, no lone
    surrogates. Raises ValueError."""
    text = raw.decode("utf-8")   # strict

    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                raise ValueError(f"duplicate key {k!r}")
            d[k] = v
        return d

    def bad_constant(c):
        raise ValueError(f"non-standard JSON constant {c}")

    doc = json.loads(text, object_pairs_hook=pairs, parse_constant=bad_constant)

    def walk(x):
        if isinstance(x, str):
            x.encode("utf-8")       # lone surrogates from \\ud8xx escapes fail here
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(k)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(doc)
    return doc


class Mount:
    def __init__(self, root):
        self.root = root
        self.read_files = set()

    def path(self, rel):
        return os.path.join(self.root, rel)

    def raw(self, rel):
        self.read_files.add(rel)
        p = self.path(rel)
        with open(p, "rb") as fh:
            data = fh.read()
        return data

    def payload(self, rel, dtype):
        """Decoded array, or raises ValueError with a reason."""
        data = self.raw(rel)
        st = os.stat(self.path(rel)).st_size
        if st != len(data):
            raise ValueError(f"st_size {st} but {len(data)} bytes read")
        if rel.endswith(".gz"):
            if len(data) < 18 or data[:3] != b"\x1f\x8b\x08" or data[3] & 0xE0:
                raise ValueError("not a plain gzip member")
            if REFERENCE_MODE:
                pass   # Python's gzip module writes a name and an mtime
            elif data[3] & 0x08:
                raise ValueError("gzip header holds a file name")
            elif struct.unpack("<I", data[4:8])[0] != 0:
                raise ValueError("gzip mtime is not 0")
            d = gzip.decompress(data)
            if struct.unpack("<I", data[-4:])[0] != len(d) & 0xFFFFFFFF:
                raise ValueError("gzip ISIZE does not match")
            data = d
        dt = np.dtype(dtype).newbyteorder("<")
        if len(data) % dt.itemsize:
            raise ValueError(f"{len(data)} bytes is not a multiple of {dt.itemsize}")
        return np.frombuffer(data, dtype=dt)


def num_close(a, b, rel=1e-6, abs_=1e-12):
    if not isinstance(a, (int, float)) or isinstance(a, bool):
        return False
    if a is None or b is None:
        return a is b
    if math.isnan(b):
        return math.isnan(a)
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)


def cmp_float(got, want, rel=1e-6, abs_=1e-7):
    """None when equal within tolerance, else a description."""
    if got.shape != want.shape:
        return f"{got.size} values, expected {want.size}"
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    same = (g == w) | (np.isnan(g) & np.isnan(w))
    close = same | (np.abs(g - w) <= np.maximum(rel * np.maximum(np.abs(g), np.abs(w)), abs_))
    bad = np.nonzero(~close)[0]
    if len(bad):
        i = bad[0]
        return f"{len(bad)} float32 values differ (first at {i}: got {got[i]!r}, expected {want[i]!r})"
    return None


def cmp_codes(got, want, missing, exact, n_cells):
    if got.shape != want.shape:
        return f"{got.size} values, expected {want.size}"
    g, w = got.astype(np.int64), want.astype(np.int64)
    diff = np.abs(g - w)
    if exact:
        bad = np.nonzero(diff)[0]
        if len(bad):
            i = bad[0]
            return f"{len(bad)} codes differ (must be exact; first at {i}: got {g[i]}, expected {w[i]})"
        return None
    one = (diff == 1) & (g != missing) & (w != missing)
    worse = (diff > 1) | ((diff == 1) & ((g == missing) | (w == missing)))
    allowed = int(0.001 * n_cells)
    if worse.any() or one.sum() > allowed:
        i = np.nonzero(worse | one)[0][0]
        return (f"{int(worse.sum())} codes off by more than one step, {int(one.sum())} by one "
                f"(at most {allowed} allowed; first at {i}: got {g[i]}, expected {w[i]})")
    return None


# ==========================================================================
# the comparison

def run_check(label, mount_root, h5ad, opts, reader="auto", log=None, expect_warnings=None):
    c = Checker(label)
    opt = Options(opts)
    try:
        m = load_model(h5ad, reader)
    except Exception as ex:  # noqa: BLE001
        c.fail(f"oracle cannot read {h5ad}: {type(ex).__name__}: {ex}")
        return c.failures
    print(f"   {label}: read with {m.reader}; {m.n} cells, {len(m.fields)} obs columns")
    for f in m.fields:
        if f.kind == "skip":
            print(f"   {label}: obs column {f.key!r} cannot be shown ({f.reason})")
    mnt = Mount(mount_root)

    # ---- JSON documents: strict UTF-8, no escapes of the tree
    docs = {}
    json_bad = 0
    abs_h5ad = os.path.abspath(h5ad)
    for rel in ("dataset_identity.json", "obs_manifest.json", "var_manifest.json",
                "connectivity_manifest.json", "_cellucid/health", "_cellucid/info", "_cellucid/datasets"):
        if not os.path.exists(mnt.path(rel)):
            continue
        try:
            raw = mnt.raw(rel)
            docs[rel] = strict_json(raw)
            if abs_h5ad.encode() in raw or os.path.dirname(abs_h5ad).encode() + b"/" in raw:
                c.fail(f"{rel}: holds the .h5ad's absolute path")
                json_bad += 1
        except (ValueError, UnicodeDecodeError, OSError) as ex:
            c.fail(f"{rel}: not strict UTF-8 JSON: {ex}")
            json_bad += 1
    c.check(json_bad == 0 and "dataset_identity.json" in docs and "obs_manifest.json" in docs,
            f"json: {len(docs)} documents are strict UTF-8 JSON")
    ident = docs.get("dataset_identity.json")
    obsman = docs.get("obs_manifest.json")
    if not isinstance(ident, dict) or not isinstance(obsman, dict):
        c.fail("identity: dataset_identity.json or obs_manifest.json missing or unreadable; nothing more to compare")
        return c.failures

    # ---- which layout does the mount use?
    patterns = json.dumps(obsman.get("_obsSchemas", {})) + json.dumps((docs.get("var_manifest.json") or {})
                                                                      .get("_varSchema", {}))
    seen = "index" if "{index}" in patterns else "names" if "{key}" in patterns else opt.layout
    if seen != opt.layout:
        c.fail(f"layout: mounted with layout={opt.layout} but the manifests use the {seen} layout's "
               f"path patterns; comparing as {seen}")
    layout = seen

    try:
        e = build_expectation(m, opt, h5ad, layout)
    except ExpectRefusal as ex:
        c.fail(f"identity: the mount should have been refused ({ex})")
        return c.failures
    for key, why in e.left_out:
        print(f"   {label}: obs field {key!r} expected left out ({why})")
    for key, why in e.genes_left_out:
        print(f"   {label}: gene {key!r} expected left out ({why})")

    expected_files = {"dataset_identity.json", "obs_manifest.json", "_cellucid/health", "_cellucid/info",
                      "_cellucid/datasets"}
    check_identity(c, e, opt, ident)
    check_points(c, e, mnt, ident, expected_files)
    check_obs(c, e, mnt, obsman, expected_files)
    check_var(c, e, mnt, docs.get("var_manifest.json"), ident, expected_files)
    check_connectivity(c, e, mnt, docs.get("connectivity_manifest.json"), expected_files)
    check_vectors(c, e, mnt, ident, expected_files)
    if REFERENCE_MODE:
        expected_files -= {"_cellucid/health", "_cellucid/info", "_cellucid/datasets"}
    else:
        check_handshake(c, e, opt, docs)
    check_tree(c, mnt, expected_files)
    if log is not None:
        check_warnings(c, log, expect_warnings or [], e)
    for note in e.notes:
        print(f"   {label}: note: {note}")
    return c.failures


def check_identity(c, e, opt, ident):
    problems = []

    def want(path, got, exp):
        if isinstance(exp, float) or (isinstance(exp, int) and not isinstance(exp, bool) and isinstance(got, float)):
            ok = num_close(got, exp)
        else:
            ok = got == exp and type(got) is type(exp)
        if not ok:
            problems.append(f"{path}: got {got!r}, expected {exp!r}")

    allowed = {"version", "id", "name", "description", "created_at", "cellucid_data_version", "stats",
               "embeddings", "obs_fields", "export_settings", "source", "vector_fields"}
    required = {"version", "id", "name", "description", "cellucid_data_version", "stats", "embeddings",
                "obs_fields"}
    if set(ident) - allowed or required - set(ident):
        problems.append(f"keys: unknown {sorted(set(ident) - allowed)}, missing {sorted(required - set(ident))}")
    want("version", ident.get("version"), 2)
    if e.layout == "index" and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", e.id or ""):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", str(ident.get("id"))) or str(ident.get("id")).endswith("."):
            problems.append(f"id: {ident.get('id')!r} is not a local-folder id")
    else:
        want("id", ident.get("id"), e.id)
    want("name", ident.get("name"), e.name)
    want("description", ident.get("description"), "")
    if not REFERENCE_MODE:
        want("created_at", ident.get("created_at"), e.created_at)
    v = ident.get("cellucid_data_version")
    if not isinstance(v, str) or not v.strip():
        problems.append(f"cellucid_data_version: {v!r} is not a non-empty string")
    n_cat = sum(1 for x in e.fields if x.kind == "category")
    n_cont = len(e.fields) - n_cat
    stats = ident.get("stats") or {}
    exp_stats = {"n_cells": e.n, "n_genes": len(e.genes), "n_obs_fields": len(e.fields),
                 "n_categorical_fields": n_cat, "n_continuous_fields": n_cont,
                 "has_connectivity": e.has_conn, "n_edges": len(e.src) if e.has_conn else None}
    if set(stats) != set(exp_stats):
        problems.append(f"stats keys {sorted(stats)}")
    for k, v in exp_stats.items():
        want(f"stats.{k}", stats.get(k), v)
    emb = ident.get("embeddings") or {}
    want("embeddings.available_dimensions", emb.get("available_dimensions"), e.dims)
    want("embeddings.default_dimension", emb.get("default_dimension"), e.default_dim)
    want("embeddings.files", emb.get("files"), {f"{d}d": f"points_{d}d.bin{e.gz}" for d in e.dims})
    if set(emb) != {"available_dimensions", "default_dimension", "files"}:
        problems.append(f"embeddings keys {sorted(emb)}")
    order = e.fields if e.layout == "names" else \
        [x for x in e.fields if x.kind == "continuous"] + [x for x in e.fields if x.kind == "category"]
    exp_fields = [{"key": x.key, "kind": x.kind, "n_categories": len(x.categories)} if x.kind == "category"
                  else {"key": x.key, "kind": "continuous"} for x in order]
    got_fields = ident.get("obs_fields")
    if got_fields != exp_fields:
        gk = [f.get("key") for f in got_fields] if isinstance(got_fields, list) else got_fields
        problems.append(f"obs_fields: got keys {gk!r}, expected {[f['key'] for f in exp_fields]!r}"
                        if gk != [f["key"] for f in exp_fields] else
                        f"obs_fields: got {got_fields!r}, expected {exp_fields!r}")
    es = ident.get("export_settings")
    if e.layout == "names":
        want("export_settings", es, {"compression": e.compression, "var_quantization": opt.var_bits,
                                     "obs_continuous_quantization": opt.obs_bits,
                                     "obs_categorical_dtype": "auto"})
    else:
        dts = {x.codes_dtype for x in e.fields if x.kind == "category"}
        if len(dts) > 1:
            if es is not None:
                problems.append("export_settings: present although the fields mix code widths")
        elif es is not None:
            exp = {"compression": e.compression, "var_quantization": opt.var_bits,
                   "obs_continuous_quantization": opt.obs_bits}
            for k, v in exp.items():
                want(f"export_settings.{k}", es.get(k), v)
            if dts and es.get("obs_categorical_dtype") != next(iter(dts)):
                problems.append(f"export_settings.obs_categorical_dtype: got {es.get('obs_categorical_dtype')!r}, "
                                f"expected {next(iter(dts))!r}")
            elif es.get("obs_categorical_dtype") not in ("uint8", "uint16"):
                problems.append(f"export_settings.obs_categorical_dtype: {es.get('obs_categorical_dtype')!r}")
        if "source" in ident and not (isinstance(ident["source"], dict) and ident["source"].get("name")):
            problems.append("source without a non-empty name")
    if e.vectors and "vector_fields" not in ident:
        problems.append(f"vector_fields: absent, expected fields {sorted(e.vectors)}")
    if not e.vectors and "vector_fields" in ident:
        problems.append(f"vector_fields: present ({ident['vector_fields']!r}) but no vector field is expected")
    for p in problems:
        c.fail(f"dataset_identity.json: {p}")
    c.check(not problems, "identity: dataset_identity.json as expected")


def check_points(c, e, mnt, ident, expected_files):
    bad = 0
    for d in e.dims:
        rel = f"points_{d}d.bin{e.gz}"
        expected_files.add(rel)
        try:
            got = mnt.payload(rel, "<f4")
        except (OSError, ValueError) as ex:
            c.fail(f"{rel}: {ex}")
            bad += 1
            continue
        want = e.points[d].reshape(-1)
        why = cmp_float(got, want)
        if why is None and not np.isfinite(got).all():
            why = "non-finite coordinates"
        if why:
            c.fail(f"{rel}: {why}")
            bad += 1
    c.check(bad == 0, f"points: {len(e.dims) - bad}/{len(e.dims)} embedding files as expected"
            + (f" ({sum(e.nonfinite.values())} non-finite cells written as 0)" if any(e.nonfinite.values()) else ""))


def check_centroids(got, exp, dims, n):
    """None or a description. got: centroidsByDim; exp: {d: [entries]}."""
    if not isinstance(got, dict):
        return f"centroidsByDim is {type(got).__name__}"
    if set(got) != {str(d) for d in dims}:
        return f"centroid dimensions {sorted(got)}, expected {[str(d) for d in dims]}"
    for d in dims:
        lst = got[str(d)]
        want = exp[d]
        if not isinstance(lst, list) or len(lst) != len(want):
            return (f"{d}d: {len(lst) if isinstance(lst, list) else lst!r} centroids, expected {len(want)} "
                    f"(categories with >= 10 cells: {[w['category'] for w in want]})")
        unmatched = list(lst)
        for w in want:
            found = None
            for g in unmatched:
                if not isinstance(g, dict) or not same_values([g.get("category")], [w["category"]]):
                    continue
                pos = g.get("position")
                cands = [(w["position"], w["n_points"])] + w["alt"]
                for p, npts in cands:
                    if isinstance(pos, list) and len(pos) == d and g.get("n_points") == npts and \
                            all(isinstance(a, (int, float)) and abs(a - b) <= 1e-5 for a, b in zip(pos, p)):
                        found = g
                        break
                if found:
                    break
            if found is None:
                cand = [g for g in unmatched if isinstance(g, dict) and same_values([g.get("category")], [w["category"]])]
                return (f"{d}d: centroid of {w['category']!r}: got {cand[0] if cand else 'none'}, expected "
                        f"position {[round(float(x), 7) for x in w['position']]} n_points {w['n_points']}")
            unmatched.remove(found)
            if set(found) != {"category", "position", "n_points"}:
                return f"{d}d: centroid keys {sorted(found)}"
    return None


def check_obs(c, e, mnt, man, expected_files):
    gz = e.gz
    problems = []
    files_ok = files_total = 0
    one_step = 0
    fixed = ["_format", "n_points", "centroid_outlier_quantile", "latent_key", "compression", "_obsSchemas",
             "_continuousFields", "_categoricalFields"]
    if set(man) != set(fixed):
        problems.append(f"keys {sorted(man)}, expected {sorted(fixed)}")
    if man.get("_format") != "compact_v1":
        problems.append(f"_format {man.get('_format')!r}")
    if man.get("n_points") != e.n:
        problems.append(f"n_points {man.get('n_points')!r}, expected {e.n}")
    if not num_close(man.get("centroid_outlier_quantile"), 0.95):
        problems.append(f"centroid_outlier_quantile {man.get('centroid_outlier_quantile')!r}")
    # latent_key: the reference writes a label ("latent_space"), not necessarily the obsm key.
    if not (man.get("latent_key") is None or (isinstance(man.get("latent_key"), str) and man["latent_key"])):
        problems.append(f"latent_key {man.get('latent_key')!r}")
    if man.get("compression") != e.compression:
        problems.append(f"compression {man.get('compression')!r}, expected {e.compression!r}")
    cont = [x for x in e.fields if x.kind == "continuous"]
    cat = [x for x in e.fields if x.kind == "category"]
    key_ph = "{index}" if e.layout == "index" else "{key}"
    schemas = man.get("_obsSchemas") or {}
    exp_schemas = {}
    quant = e.cont_ext != "f32"
    if cont:
        s = {"pathPattern": f"obs/{key_ph}.values.{e.cont_ext}{gz}", "ext": e.cont_ext, "dtype": e.cont_dtype,
             "quantized": quant}
        if quant:
            s["quantizationBits"] = 8 if e.cont_ext == "u8" else 16
        exp_schemas["continuous"] = s
    if cat:
        exp_schemas["categorical"] = {"codesPathPattern": f"obs/{key_ph}.codes.{{ext}}{gz}",
                                      "outlierPathPattern": f"obs/{key_ph}.outliers.{e.cont_ext}{gz}",
                                      "outlierExt": e.cont_ext, "outlierDtype": e.cont_dtype,
                                      "outlierQuantized": quant}
    if schemas != exp_schemas:
        problems.append(f"_obsSchemas {schemas!r}, expected {exp_schemas!r}")
    for p in problems:
        c.fail(f"obs_manifest.json: {p}")

    off = 1 if e.layout == "index" else 0
    got_cont = man.get("_continuousFields") or []
    got_cat = man.get("_categoricalFields") or []
    gk = [t[off] if isinstance(t, list) and len(t) > off else t for t in got_cont]
    if gk != [x.key for x in cont]:
        c.fail(f"obs_manifest.json: _continuousFields keys {gk!r}, expected {[x.key for x in cont]!r}")
        problems.append("continuous keys")
    gk = [t[off] if isinstance(t, list) and len(t) > off else t for t in got_cat]
    if gk != [x.key for x in cat]:
        c.fail(f"obs_manifest.json: _categoricalFields keys {gk!r}, expected {[x.key for x in cat]!r}")
        problems.append("categorical keys")
    if e.layout == "index":
        idx = [t[0] for t in got_cont + got_cat if isinstance(t, list) and t]
        if sorted(idx) != list(range(len(e.fields))):
            c.fail(f"obs_manifest.json: payload indices {idx!r} are not 0..{len(e.fields) - 1}")
            problems.append("indices")
    by_key_cont = {t[off]: t for t in got_cont if isinstance(t, list) and len(t) > off}
    by_key_cat = {t[off]: t for t in got_cat if isinstance(t, list) and len(t) > off}

    def stem_of(x, t):
        return str(t[0]) if e.layout == "index" else x.stem

    for x in cont:
        t = by_key_cont.get(x.key)
        if t is None:
            continue
        rel = f"obs/{stem_of(x, t)}.values.{e.cont_ext}{gz}"
        expected_files.add(rel)
        files_total += 1
        tail = t[off + 1:]
        if quant:
            if len(tail) != 2 or not num_close(tail[0], x.q_min) or not num_close(tail[1], x.q_max):
                c.fail(f"obs_manifest.json: {x.key!r}: min/max {tail!r}, expected [{x.q_min!r}, {x.q_max!r}]")
                problems.append(x.key)
        elif tail:
            c.fail(f"obs_manifest.json: {x.key!r}: unexpected min/max {tail!r} for float32 values")
            problems.append(x.key)
        try:
            got = mnt.payload(rel, e.cont_dtype)
        except (OSError, ValueError) as ex:
            c.fail(f"{rel} ({x.key!r}): {ex}")
            continue
        why = cmp_codes(got, x.q_codes, np.iinfo(e.cont_dtype).max, False, e.n) if quant else \
            cmp_float(got, x.values)
        if why and not quant and e.layout == "index":
            # The strict viewer cannot colour a field holding ±Inf (viewer-contract-strict.md §14);
            # writing those cells as NaN (missing) instead is accepted in layout=index.
            if cmp_float(got, np.where(np.isinf(x.values), np.float32(np.nan), x.values)) is None:
                why = None
                e.notes.append(f"obs field {x.key!r}: ±Inf written as NaN")
        if why:
            c.fail(f"{rel} ({x.key!r}): {why}")
        else:
            files_ok += 1
            if quant:
                one_step += int((got.astype(np.int64) != x.q_codes).sum())
    for x in cat:
        t = by_key_cat.get(x.key)
        if t is None:
            continue
        tail = t[off + 1:]
        ext = "u8" if x.codes_dtype == "uint8" else "u16"
        exp_len = 6 if quant else 4
        if len(tail) != exp_len:
            c.fail(f"obs_manifest.json: {x.key!r}: tuple of {len(t)} elements")
            problems.append(x.key)
            continue
        cats, dtype, missing, cents = tail[:4]
        if not same_values(cats, x.categories):
            c.fail(f"obs_manifest.json: {x.key!r}: categories {cats!r}, expected {x.categories!r}")
            problems.append(x.key)
        if dtype != x.codes_dtype or missing != x.missing:
            c.fail(f"obs_manifest.json: {x.key!r}: codes dtype {dtype!r}/{missing!r}, expected "
                   f"{x.codes_dtype!r}/{x.missing!r}")
            problems.append(x.key)
        why = check_centroids(cents, x.centroids, e.dims, e.n)
        if why:
            c.fail(f"obs_manifest.json: {x.key!r}: centroids: {why}")
            problems.append(x.key)
        if quant and (not num_close(tail[4], x.out_min) or not num_close(tail[5], x.out_max)):
            c.fail(f"obs_manifest.json: {x.key!r}: outlier min/max {tail[4:]!r}, expected "
                   f"[{x.out_min!r}, {x.out_max!r}]")
            problems.append(x.key)
        stem = stem_of(x, t)
        rel = f"obs/{stem}.codes.{ext}{gz}"
        expected_files.add(rel)
        files_total += 1
        try:
            got = mnt.payload(rel, x.codes_dtype)
            why = cmp_codes(got, x.codes, x.missing, True, e.n)
            if why:
                c.fail(f"{rel} ({x.key!r}): {why}")
            else:
                files_ok += 1
        except (OSError, ValueError) as ex:
            c.fail(f"{rel} ({x.key!r}): {ex}")
        rel = f"obs/{stem}.outliers.{e.cont_ext}{gz}"
        expected_files.add(rel)
        files_total += 1
        try:
            got = mnt.payload(rel, e.cont_dtype)
            if quant:
                why = cmp_codes(got, x.out_codes, np.iinfo(e.cont_dtype).max, False, e.n)
            else:
                why = cmp_float(got, x.outliers)
                if why:   # a distance rounding may swap two ranks: one 1/n step on <= 0.1 % of cells
                    g, w = got.astype(np.float64), x.outliers.astype(np.float64)
                    nan_same = np.isnan(g) == np.isnan(w)
                    d = np.abs(np.nan_to_num(g) - np.nan_to_num(w))
                    if nan_same.all() and (d > 1e-6).sum() <= int(0.001 * e.n):
                        why = None
            if why:
                c.fail(f"{rel} ({x.key!r}): {why}")
            else:
                files_ok += 1
        except (OSError, ValueError) as ex:
            c.fail(f"{rel} ({x.key!r}): {ex}")
    c.check(not problems and files_ok == files_total,
            f"obs: manifest and {files_ok}/{files_total} files as expected "
            f"({len(cont)} continuous, {len(cat)} categorical, {len(e.left_out)} left out; "
            f"{one_step} quantised codes one step off)")


def check_var(c, e, mnt, man, ident, expected_files):
    if not e.genes and not e.genes_unlisted:
        c.check(man is None and not os.path.exists(mnt.path("var_manifest.json")),
                "var: no genes, no var_manifest.json")
        return
    expected_files.add("var_manifest.json")
    if man is None:
        c.fail(f"var: var_manifest.json missing ({len(e.genes)} genes expected)")
        return
    gz = e.gz
    quant = e.var_ext != "f32"
    problems = []
    keys = {"_format", "n_points", "var_gene_id_column", "compression", "quantization", "_varSchema", "fields"}
    if set(man) != keys:
        problems.append(f"keys {sorted(man)}")
    if man.get("_format") != "compact_v1" or man.get("n_points") != e.n:
        problems.append(f"_format/n_points {man.get('_format')!r}/{man.get('n_points')!r}")
    gid = man.get("var_gene_id_column")
    if e.layout == "index" and e.gene_id_column == "index":
        if gid not in (None, "index"):
            problems.append(f"var_gene_id_column {gid!r}")
    elif gid != e.gene_id_column:
        problems.append(f"var_gene_id_column {gid!r}, expected {e.gene_id_column!r}")
    if man.get("compression") != e.compression:
        problems.append(f"compression {man.get('compression')!r}, expected {e.compression!r}")
    bits = None if not quant else (8 if e.var_ext == "u8" else 16)
    if man.get("quantization") != bits:
        problems.append(f"quantization {man.get('quantization')!r}, expected {bits!r}")
    key_ph = "{index}" if e.layout == "index" else "{key}"
    s = {"kind": "continuous", "pathPattern": f"var/{key_ph}.values.{e.var_ext}{gz}", "ext": e.var_ext,
         "dtype": e.var_dtype, "quantized": quant}
    if quant:
        s["quantizationBits"] = bits
    if man.get("_varSchema") != s:
        problems.append(f"_varSchema {man.get('_varSchema')!r}, expected {s!r}")
    off = 1 if e.layout == "index" else 0
    fields = man.get("fields") or []
    names = [t[off] if isinstance(t, list) and len(t) > off else t for t in fields]
    want_names = [g.name for g in e.genes]
    if names != want_names:
        extra = [x for x in names if x not in want_names][:5]
        missing = [x for x in want_names if x not in names][:5]
        problems.append(f"fields: {len(names)} genes, expected {len(want_names)}"
                        f" (unexpected {extra!r}, missing {missing!r})")
    if e.layout == "index":
        idx = [t[0] for t in fields if isinstance(t, list) and t]
        if sorted(idx) != list(range(len(fields))):
            problems.append("payload indices are not 0..G-1")
    for p in problems:
        c.fail(f"var_manifest.json: {p}")
    by_name = {}
    for t in fields:
        if isinstance(t, list) and len(t) > off:
            by_name.setdefault(t[off], t)
    ok = total = one_step = 0
    bad_ranges = 0
    for g in e.genes:
        t = by_name.get(g.name)
        if t is None:
            continue
        stem = str(t[0]) if e.layout == "index" else g.stem
        rel = f"var/{stem}.values.{e.var_ext}{gz}"
        expected_files.add(rel)
        total += 1
        tail = t[off + 1:]
        if quant and (len(tail) != 2 or not num_close(tail[0], g.q_min) or not num_close(tail[1], g.q_max)):
            bad_ranges += 1
            if bad_ranges <= 5:
                c.fail(f"var_manifest.json: {g.name!r}: min/max {tail!r}, expected [{g.q_min!r}, {g.q_max!r}]")
        try:
            got = mnt.payload(rel, e.var_dtype)
        except (OSError, ValueError) as ex:
            c.fail(f"{rel} ({g.name!r}): {ex}")
            continue
        why = cmp_codes(got, g.q_codes, np.iinfo(e.var_dtype).max, False, e.n) if quant else \
            cmp_float(got, g.values)
        if why and not quant and e.layout == "index":   # as for obs fields: ±Inf as NaN is accepted
            if cmp_float(got, np.where(np.isinf(g.values), np.float32(np.nan), g.values)) is None:
                why = None
                e.notes.append(f"gene {g.name!r}: ±Inf written as NaN")
        if why:
            c.fail(f"{rel} ({g.name!r}): {why}")
        else:
            ok += 1
            if quant:
                one_step += int((got.astype(np.int64) != g.q_codes).sum())
    c.check(not problems and not bad_ranges and ok == total == len(e.genes),
            f"var: manifest and {ok}/{len(e.genes)} gene files as expected "
            f"({len(e.genes_left_out)} left out; {one_step} quantised codes one step off"
            + (f"; {bad_ranges} min/max wrong" if bad_ranges else "") + ")")


def check_connectivity(c, e, mnt, man, expected_files):
    if not e.has_conn:
        c.check(man is None and not os.path.exists(mnt.path("connectivity_manifest.json")),
                "connectivity: no graph, no connectivity_manifest.json")
        return
    expected_files.add("connectivity_manifest.json")
    if man is None:
        c.fail("connectivity: connectivity_manifest.json missing")
        return
    gz = e.gz
    width = 2 if e.index_dtype == "uint16" else 4
    exp = {"format": "edge_pairs", "n_cells": e.n, "n_edges": int(len(e.src)), "max_neighbors": e.max_neighbors,
           "index_bytes": width, "index_dtype": e.index_dtype,
           "sourcesPath": f"connectivity/edges.src.bin{gz}", "destinationsPath": f"connectivity/edges.dst.bin{gz}",
           "compression": e.compression}
    if e.layout == "index":
        exp.update({"weightsPath": f"connectivity/edges.weights.f64.bin{gz}", "weight_dtype": "float64",
                    "weight_bytes": 8})
    problems = [f"{k}: got {man.get(k)!r}, expected {v!r}" for k, v in exp.items() if man.get(k) != v]
    if set(man) != set(exp):
        problems.append(f"keys: unknown {sorted(set(man) - set(exp))}, missing {sorted(set(exp) - set(man))}")
    for p in problems:
        c.fail(f"connectivity_manifest.json: {p}")
    files = [("sourcesPath", e.src, e.index_dtype), ("destinationsPath", e.dst, e.index_dtype)]
    if e.layout == "index":
        files.append(("weightsPath", e.weights, "float64"))
    ok = 0
    for key, want, dt in files:
        rel = exp[key]
        expected_files.add(rel)
        try:
            got = mnt.payload(rel, dt)
        except (OSError, ValueError) as ex:
            c.fail(f"{rel}: {ex}")
            continue
        if dt == "float64":
            why = cmp_float(got, want, rel=1e-12, abs_=0)
        else:
            why = cmp_codes(got, want, -1, True, e.n)
        if why:
            c.fail(f"{rel}: {why}")
        else:
            ok += 1
    c.check(not problems and ok == len(files),
            f"connectivity: manifest and {ok}/{len(files)} edge files as expected ({len(e.src)} edges, "
            f"max_neighbors {e.max_neighbors})")


def check_vectors(c, e, mnt, ident, expected_files):
    vf = ident.get("vector_fields")
    if not e.vectors:
        return
    if not isinstance(vf, dict):
        c.fail(f"vectors: no vector_fields in dataset_identity.json (expected {sorted(e.vectors)})")
        return
    problems = []
    if set(vf) != {"default_field", "fields"}:
        problems.append(f"vector_fields keys {sorted(vf)}")
    if vf.get("default_field") != e.vector_default:
        problems.append(f"default_field {vf.get('default_field')!r}, expected {e.vector_default!r}")
    fields = vf.get("fields") or {}
    if list(fields) != list(e.vectors):
        problems.append(f"fields {list(fields)!r}, expected {list(e.vectors)!r}")
    ok = total = 0
    for i, (fid, dims) in enumerate(e.vectors.items()):
        f = fields.get(fid)
        if not isinstance(f, dict):
            continue
        want_keys = {"label", "basis", "available_dimensions", "default_dimension", "files"}
        if set(f) != want_keys:
            problems.append(f"{fid}: keys {sorted(f)}")
        # the names layout's label is free text ("Velocity (UMAP)"); layout=index wants the field id
        if not isinstance(f.get("label"), str) or not f["label"] or (e.layout == "index" and f["label"] != fid):
            problems.append(f"{fid}: label {f.get('label')!r}")
        if f.get("basis") != "umap":
            problems.append(f"{fid}: basis {f.get('basis')!r}")
        if f.get("available_dimensions") != sorted(dims) or f.get("default_dimension") != max(dims):
            problems.append(f"{fid}: dimensions {f.get('available_dimensions')!r}/{f.get('default_dimension')!r}, "
                            f"expected {sorted(dims)!r}/{max(dims)}")
        stem = str(i) if e.layout == "index" else safe_name(fid)
        want_files = {f"{d}d": f"vectors/{stem}_{d}d.bin{e.gz}" for d in dims}
        if f.get("files") != want_files:
            problems.append(f"{fid}: files {f.get('files')!r}, expected {want_files!r}")
        for d, arr in dims.items():
            rel = want_files[f"{d}d"]
            expected_files.add(rel)
            total += 1
            try:
                got = mnt.payload(rel, "<f4")
            except (OSError, ValueError) as ex:
                c.fail(f"{rel}: {ex}")
                continue
            why = cmp_float(got, arr.reshape(-1))
            if why:
                c.fail(f"{rel}: {why}")
            else:
                ok += 1
    for p in problems:
        c.fail(f"dataset_identity.json: vector_fields: {p}")
    c.check(not problems and ok == total, f"vectors: {ok}/{total} vector files as expected")


def check_handshake(c, e, opt, docs):
    problems = []
    h, i, d = docs.get("_cellucid/health"), docs.get("_cellucid/info"), docs.get("_cellucid/datasets")
    if not isinstance(h, dict) or set(h) != {"status", "type", "version"} or h.get("status") != "ok" or \
            h.get("type") != "exported" or not isinstance(h.get("version"), str) or not h["version"] or \
            re.search(r"\s", h["version"]):
        problems.append(f"health {h!r}")
    version = h.get("version") if isinstance(h, dict) else None
    want_i = {"version": version, "host": opt.host, "port": opt.port, "mode": "standalone"}
    if i != want_i:
        problems.append(f"info {i!r}, expected {want_i!r}")
    ident_id = e.id
    want_d = {"datasets": [{"id": ident_id, "path": "/", "name": e.name}]}
    if e.layout == "index" and isinstance(d, dict) and d.get("datasets") and \
            isinstance(d["datasets"][0], dict):
        want_d["datasets"][0]["id"] = d["datasets"][0].get("id")   # the identity check covers the id
    if d != want_d:
        problems.append(f"datasets {d!r}, expected {want_d!r}")
    for p in problems:
        c.fail(f"_cellucid: {p}")
    c.check(not problems, "handshake: _cellucid/{health,info,datasets} as expected")


def check_tree(c, mnt, expected_files):
    root = os.path.realpath(mnt.root)
    present, problems = set(), []
    for d, dirs, files in os.walk(mnt.root):
        reld = os.path.relpath(d, mnt.root)
        if reld == ".":
            dirs[:] = [x for x in dirs if not x.startswith(".")]   # hidden status directory
            files = [x for x in files if not x.startswith(".")]
        for name in dirs + files:
            if name in (".", "..") or "/" in name or "\0" in name:
                problems.append(f"entry {name!r} in {reld}")
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(f"entry {name.encode('utf-8', 'surrogateescape')!r} in {reld} is not UTF-8")
            p = os.path.join(d, name)
            if os.path.islink(p):
                problems.append(f"{os.path.relpath(p, mnt.root)} is a symlink")
            real = os.path.realpath(p)
            if not (real == root or real.startswith(root + os.sep)):
                problems.append(f"{os.path.relpath(p, mnt.root)} resolves outside the tree")
        for name in files:
            present.add(os.path.normpath(os.path.join(reld, name)))
    extra = sorted(present - expected_files)
    missing = sorted(expected_files - present)
    for rel in expected_files:
        parts = rel.split("/")
        if ".." in parts or rel.startswith("/"):
            problems.append(f"expected path {rel!r} escapes")
    if extra:
        problems.append(f"{len(extra)} unexpected files: {extra[:8]}")
    if missing:
        problems.append(f"{len(missing)} expected files missing: {missing[:8]}")
    for p in problems:
        c.fail(f"tree: {p}")
    c.check(not problems, f"tree: {len(present)} files, exactly the expected ones, all inside the mount")


def check_warnings(c, log, patterns, e):
    try:
        with open(log, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError as ex:
        c.fail(f"warnings: cannot read the mount log: {ex}")
        return
    missing = [p for p in patterns if not any(re.search(p, ln) for ln in lines)]
    # export-format.md §3: a key left out is left out "with a warning": a line naming it
    unnamed = []
    for what, items in (("obs field", e.left_out), ("gene", e.genes_left_out)):
        for key, why in items:
            if key == "":
                needle = "''"
            else:
                needle = re.split(r"[\x00-\x1f\x7f]", key)[0][:24]
                if not needle:
                    continue
            if not any(needle in ln for ln in lines):
                unnamed.append(f"{what} {key[:40]!r} ({why})")
    n_expected = len(e.left_out) + len(e.genes_left_out)
    shown = "; ".join(ln[:100] for ln in lines if not ln.startswith("cellucidfs: prefetch"))[:300]
    c.check(not missing and not unnamed,
            f"warnings: the mount log names each of {n_expected} fields/genes left out and matches "
            f"{len(patterns)} expected warning patterns",
            (f"no line matches {missing!r}; " if missing else "")
            + (f"no line names {unnamed!r}; " if unnamed else "") + f"log: {shown!r}")


# ==========================================================================

def parse_opts(items):
    out = {}
    for item in items:
        for kv in item.split(","):
            if not kv:
                continue
            k, _, v = kv.partition("=")
            out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mount", nargs="?")
    ap.add_argument("h5ad", nargs="?")
    ap.add_argument("--option", "-o", action="append", default=[], help="k=v (as given to the mount)")
    ap.add_argument("--label", default=None)
    ap.add_argument("--reader", default="auto", choices=["auto", "anndata", "h5py"])
    ap.add_argument("--log", default=None)
    ap.add_argument("--expect-warning", action="append", default=[])
    ap.add_argument("--batch", default=None)
    ap.add_argument("--reference", action="store_true",
                    help="MOUNT is a folder the reference exporter wrote (shared/reference): accept its gzip "
                         "file names and created_at, expect no _cellucid/ files (checks the oracle itself)")
    a = ap.parse_args()
    global REFERENCE_MODE
    REFERENCE_MODE = a.reference
    failures = 0
    if a.batch:
        with open(a.batch, encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if not line:
                    continue
                label, mnt, h5ad, opts, log, warns = line.split("\t")
                opts = parse_opts([opts]) if opts != "-" else {}
                try:
                    failures += run_check(label, mnt, h5ad, opts, a.reader, None if log == "-" else log,
                                          [] if warns == "-" else json.loads(warns))
                except Exception:  # noqa: BLE001 - one broken check must not hide the others
                    import traceback
                    tb = traceback.format_exc().strip().splitlines()
                    print(f"FAIL {label}: oracle error: {tb[-1]} (at {tb[-3].strip() if len(tb) > 2 else ''})")
                    failures += 1
    else:
        if not a.mount or not a.h5ad:
            ap.error("MOUNT and H5AD are required")
        label = a.label or os.path.basename(a.h5ad)
        failures = run_check(label, a.mount, a.h5ad, parse_opts(a.option), a.reader, a.log, a.expect_warning)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
