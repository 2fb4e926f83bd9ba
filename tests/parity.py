#!/usr/bin/python3
"""Parity of a default (layout=index) mount with the newest exporter's rules.

usage: parity.py MOUNT H5AD LABEL [--expect FILE]

Computes with numpy, from the .h5ad (anndata.read_h5ad), what the newest
cellucid-python prepare() writes for it with compression 6 and 8-bit
quantisation (docs/export-rules.md; ../shared/spec/export-format.md §8), and
compares the mount with that: every payload decoded, byte for byte (codes,
edges and weights exactly, float32 bit for bit), and every JSON document
parsed with its key order and its number types (1001.0 is a float, 700 an
int), apart from the values of created_at and cellucid_data_version.
Where the reference refuses the input, the expectation is cellucidfs's
documented rule (NaN and ±Inf served as missing, an obs field or gene with
no value or with categories that are no finite JSON scalars left out, a directed or asymmetric
graph symmetrised by max, self-loops and unusable weights left out).
Nothing here comes from the C code.

--expect FILE adds hand-computed expectations (a JSON object: "codes" maps a
payload path to the exact list of its first codes, "missing" to the cells
holding the missing code, "weights" to the list of edge weights, "json" maps
"document:dotted.path" to a value compared with type and order).

Prints "ok LABEL: ..." or "FAIL LABEL: ..." lines; exits 1 on any failure.
"""
import gzip
import json
import os
import re
import sys
import warnings

import numpy as np
import scipy.sparse as sp

warnings.filterwarnings("ignore")
import anndata  # noqa: E402

PREFERRED_LATENT = ["scanvi", "scvi", "X_scvi", "X_pca", "harmony", "X_harmony"]
IGNORED_VALUES = {"created_at", "cellucid_data_version"}
COMPRESSION, BITS = 6, 8
TOP, MISSING = 254, 255


class Float(float):
    """A JSON number written as a float (repr with a point or exponent)."""


def parse_json(text):
    """Objects as lists of pairs (order kept), numbers typed as written."""
    return json.loads(text, object_pairs_hook=lambda pairs: ("obj", pairs),
                      parse_float=lambda s: Float(s), parse_int=int)


def to_doc(v):
    """An expected document in the same shape as parse_json's."""
    if isinstance(v, dict):
        return ("obj", [(k, to_doc(x)) for k, x in v.items()])
    if isinstance(v, list):
        return [to_doc(x) for x in v]
    if isinstance(v, float):
        return Float(v)
    return v


def kind(v):
    return ("bool" if isinstance(v, bool) else "float" if isinstance(v, Float)
            else "int" if isinstance(v, int) else "null" if v is None
            else "str" if isinstance(v, str) else "list" if isinstance(v, list) else "obj")


def first_difference(want, got, where="$"):
    if kind(want) != kind(got):
        return f"{where}: {kind(got)} {short(got)}, expected {kind(want)} {short(want)}"
    if isinstance(want, tuple):
        wk, gk = [k for k, _ in want[1]], [k for k, _ in got[1]]
        if wk != gk:
            return f"{where}: keys {gk}, expected {wk}"
        for (k, w), (_, g) in zip(want[1], got[1]):
            if k in IGNORED_VALUES:
                continue
            d = first_difference(w, g, f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(want, list):
        if len(want) != len(got):
            return f"{where}: {len(got)} items, expected {len(want)}"
        for i, (w, g) in enumerate(zip(want, got)):
            d = first_difference(w, g, f"{where}[{i}]")
            if d:
                return d
        return None
    if want != got:
        return f"{where}: {short(got)}, expected {short(want)}"
    return None


def short(v):
    s = repr(v)
    return s if len(s) < 80 else s[:77] + "..."


# ---------------------------------------------------------------- the rules

def quantise(values):
    """The newest exporter's codec, over the finite values; NaN/±Inf ->
    missing (where the reference would refuse). Returns codes, min, max."""
    v = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(v)
    codes = np.full(v.shape, MISSING, dtype=np.uint8)
    if not finite.any():
        return codes, 0.0, 1.0
    lo, hi = float(v[finite].min()), float(v[finite].max())
    if lo == hi:
        codes[finite] = 0
        return codes, lo, hi
    scale = TOP / (hi - lo)
    x = v[finite].astype(np.float64)
    x -= lo
    x *= scale
    x += 1e-8
    np.clip(x, 0, TOP, out=x)
    codes[finite] = x.astype(np.uint8)
    return codes, lo, hi


def scale_of(coords):
    """An embedding's 2 / largest axis range, in float64."""
    w = np.asarray(coords, dtype=np.float64)
    return 2.0 / float((w.max(axis=0) - w.min(axis=0)).max())


def normalise(coords):
    """Per embedding, in float64: center (min+max)/2, scale 2/largest range."""
    w = np.asarray(coords, dtype=np.float64)
    return (w - (w.min(axis=0) + w.max(axis=0)) / 2) * scale_of(w)


def vector_fields(obsm, dims):
    """{field: {d: obsm key}}: <field>_umap_<d>d, else <field>_umap with d
    columns, never an X_ key, only where there are points of d dimensions."""
    out = {}
    for key in sorted(obsm.keys()):
        m = re.fullmatch(r"(.+_umap)_([123])d", key)
        if m and not key.startswith("X_") and obsm[key].shape[1] == int(m.group(2)):
            out.setdefault(m.group(1), {})[int(m.group(2))] = key
    for key in sorted(obsm.keys()):
        cols = obsm[key].shape[1]
        if re.fullmatch(r".+_umap", key) and not key.startswith("X_") and 1 <= cols <= 3:
            out.setdefault(key, {}).setdefault(cols, key)
    return {f: {d: k for d, k in sorted(v.items()) if d in dims} for f, v in out.items()
            if any(d in dims for d in v)}


def centroids(coords, codes, categories, q=0.95, min_points=10):
    out = []
    for code, label in enumerate(categories):
        idx = np.nonzero(codes == code)[0]
        n = idx.size
        if n < min_points:
            continue
        pts = coords[idx, :]
        center = pts.mean(axis=0)
        used = n
        if n > min_points:
            dists = np.linalg.norm(pts - center, axis=1)
            thr = float(np.quantile(dists, q))
            inl = dists <= thr
            if int(inl.sum()) >= min_points:
                center = pts[inl, :].mean(axis=0)
                used = int(inl.sum())
        out.append({"category": label, "position": center.astype(float).tolist(),
                    "n_points": int(used)})
    return out


def outlier_quantiles(latent, codes, categories, min_points=10):
    qs = np.full(latent.shape[0], np.nan, dtype=np.float32)
    for code in range(len(categories)):
        idx = np.nonzero(codes == code)[0]
        n = idx.size
        if n < min_points:
            continue
        pts = latent[idx, :]
        dists = np.linalg.norm(pts - pts.mean(axis=0), axis=1)
        ranks = np.searchsorted(np.sort(dists), dists, side="right")
        qs[idx] = ranks.astype(np.float32) / n
    return qs


def edge_pairs(c):
    """C[u, v] for u < v, symmetrised by max where C is not symmetric; pairs
    without a finite weight > 0 and the diagonal left out."""
    c = sp.coo_matrix(c)
    side = {}
    for r, col, w in zip(c.row.tolist(), c.col.tolist(), c.data.astype(np.float64).tolist()):
        if r != col:
            side.setdefault((min(r, col), max(r, col)), {}).setdefault(r < col, 0.0)
            side[(min(r, col), max(r, col))][r < col] += w
    pairs = []
    for (u, v), s in sorted(side.items()):
        ws = list(s.values())
        w = float("nan") if any(x != x for x in ws) else max(ws)
        if np.isfinite(w) and w > 0:
            pairs.append((u, v, w))
    return pairs


def json_categories(categories):
    """The newest exporter's labels: numpy's .item() of each category, which
    json writes as a string, an integer, a float's repr() or a boolean; None
    where it refuses them (a label that is not finite, an integer past
    2^53 - 1, two labels one value after that), and cellucidfs leaves the
    field out."""
    cats = [c.item() if isinstance(c, np.generic) else c for c in categories]
    if any(isinstance(c, float) and not np.isfinite(c) for c in cats) or \
            any(type(c) is int and abs(c) > 9_007_199_254_740_991 for c in cats) or \
            len({(type(c) is bool, c) for c in cats}) != len(cats):
        return None
    return cats


def is_categorical(series):
    import pandas as pd
    return (isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series)
            or not pd.api.types.is_numeric_dtype(series))


def expected(h5ad):
    """{relative path: bytes or document} of the export."""
    ad = anndata.read_h5ad(h5ad)
    n = ad.n_obs
    base = os.path.basename(h5ad).rsplit(".", 1)[0]
    gz = ".gz"
    files = {}

    dims = {}
    for key in ad.obsm.keys():
        if key == "X_umap" and 1 <= ad.obsm[key].shape[1] <= 3:
            dims[ad.obsm[key].shape[1]] = np.asarray(ad.obsm[key])
    emb = {d: normalise(x) for d, x in sorted(dims.items())}
    for d, x in emb.items():
        files[f"points_{d}d.bin{gz}"] = x.astype("<f4").tobytes()

    latent_key = next(k for k in PREFERRED_LATENT if k in ad.obsm)
    latent = np.asarray(ad.obsm[latent_key]).astype(np.float32)

    cont, cat = [], []
    index = -1
    for key in ad.obs.columns:
        s = ad.obs[key]
        if is_categorical(s):
            c = s.astype("category")
            cats = json_categories(c.cat.categories)
            if cats is None:
                continue
            index += 1
            codes = c.cat.codes.to_numpy(dtype=np.int32)
            # the dtype that holds the categories besides the missing code
            wide = len(cats) > 255
            missing, ext = (65535, "u16") if wide else (255, "u8")
            files[f"obs/{index}.codes.{ext}{gz}"] = np.where(codes < 0, missing, codes).astype(
                "<u2" if wide else "u1").tobytes()
            oq, omin, omax = quantise(outlier_quantiles(latent, codes, cats))
            files[f"obs/{index}.outliers.u8{gz}"] = oq.tobytes()
            cents = {str(d): centroids(x, codes, cats) for d, x in emb.items()}
            cat.append([index, key, cats, "uint16" if wide else "uint8", missing, cents, omin,
                        omax])
        else:
            values = s.to_numpy(dtype=np.float32, na_value=np.nan)
            if not np.isfinite(values).any():   # no value: left out, as the viewer refuses it
                continue
            index += 1
            q, lo, hi = quantise(values)
            files[f"obs/{index}.values.u8{gz}"] = q.tobytes()
            cont.append([index, key, lo, hi])
    files["obs_manifest.json"] = {
        "_format": "compact_v1", "n_points": n, "centroid_outlier_quantile": 0.95,
        "latent_key": "latent_space", "compression": COMPRESSION,
        "_obsSchemas": {
            **({"continuous": {"pathPattern": "obs/{index}.values.u8.gz", "ext": "u8",
                               "dtype": "uint8", "quantized": True,
                               "quantizationBits": 8}} if cont else {}),
            **({"categorical": {"codesPathPattern": "obs/{index}.codes.{ext}.gz",
                                "outlierPathPattern": "obs/{index}.outliers.u8.gz",
                                "outlierExt": "u8", "outlierDtype": "uint8",
                                "outlierQuantized": True}} if cat else {})},
        "_continuousFields": cont, "_categoricalFields": cat}

    # A gene with no finite value is left out (the reference refuses it, the
    # viewer cannot colour it); the genes after it are numbered on.
    x = ad.X
    genes = []
    for j, name in enumerate(ad.var_names):
        col = x[:, j].toarray().ravel() if sp.issparse(x) else np.asarray(x[:, j]).ravel()
        if not np.isfinite(col.astype(np.float32)).any():
            continue
        q, lo, hi = quantise(col.astype(np.float32))
        files[f"var/{len(genes)}.values.u8{gz}"] = q.tobytes()
        genes.append([len(genes), str(name), lo, hi])
    files["var_manifest.json"] = {
        "_format": "compact_v1", "n_points": n, "var_gene_id_column": None,
        "compression": COMPRESSION, "quantization": 8,
        "_varSchema": {"kind": "continuous", "pathPattern": "var/{index}.values.u8.gz",
                       "ext": "u8", "dtype": "uint8", "quantized": True,
                       "quantizationBits": 8},
        "fields": genes}

    has_graph = "connectivities" in ad.obsp
    n_edges = None
    if has_graph:
        pairs = edge_pairs(ad.obsp["connectivities"])
        n_edges = len(pairs)
        idx = "<u2" if n <= 65536 else "<u4"
        src = np.array([p[0] for p in pairs], dtype=idx)
        dst = np.array([p[1] for p in pairs], dtype=idx)
        files[f"connectivity/edges.src.bin{gz}"] = src.tobytes()
        files[f"connectivity/edges.dst.bin{gz}"] = dst.tobytes()
        files[f"connectivity/edges.weights.f64.bin{gz}"] = np.array(
            [p[2] for p in pairs], dtype="<f8").tobytes()
        degree = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
        files["connectivity_manifest.json"] = {
            "format": "edge_pairs", "n_cells": n, "n_edges": n_edges,
            "max_neighbors": int(degree.max()) if n_edges else 0,
            "index_bytes": 2 if idx == "<u2" else 4,
            "index_dtype": "uint16" if idx == "<u2" else "uint32",
            "sourcesPath": "connectivity/edges.src.bin.gz",
            "destinationsPath": "connectivity/edges.dst.bin.gz",
            "weightsPath": "connectivity/edges.weights.f64.bin.gz",
            "weight_dtype": "float64", "weight_bytes": 8, "compression": COMPRESSION}

    vectors = vector_fields(ad.obsm, emb)
    vector_meta = {}
    for i, (fid, by_dim) in enumerate(sorted(vectors.items())):
        for d, key in by_dim.items():
            scaled = np.asarray(ad.obsm[key]).astype(np.float64) * scale_of(dims[d])
            files[f"vectors/{i}_{d}d.bin{gz}"] = scaled.astype("<f4").tobytes()
        vector_meta[fid] = {"label": fid, "available_dimensions": sorted(by_dim),
                            "default_dimension": max(by_dim),
                            "files": {f"{d}d": f"vectors/{i}_{d}d.bin{gz}" for d in sorted(by_dim)},
                            "basis": "umap"}

    obs_fields = ([{"key": f[1], "kind": "continuous"} for f in cont] +
                  [{"key": f[1], "kind": "category", "n_categories": len(f[2])} for f in cat])
    files["dataset_identity.json"] = {
        "version": 2, "id": base, "name": base, "description": "",
        "created_at": None, "cellucid_data_version": None,
        "stats": {"n_cells": n, "n_genes": len(genes), "n_obs_fields": len(obs_fields),
                  "n_categorical_fields": len(cat), "n_continuous_fields": len(cont),
                  "has_connectivity": has_graph, "n_edges": n_edges},
        "embeddings": {"available_dimensions": sorted(emb),
                       "default_dimension": max(emb),
                       "files": {f"{d}d": f"points_{d}d.bin{gz}" for d in sorted(emb)}},
        "obs_fields": obs_fields}
    dtypes = {f[3] for f in cat}
    if len(dtypes) <= 1:   # one dtype for every field, as the reference takes it
        files["dataset_identity.json"]["export_settings"] = {
            "compression": COMPRESSION, "var_quantization": 8, "obs_continuous_quantization": 8,
            "obs_categorical_dtype": dtypes.pop() if dtypes else "uint8"}
    if vector_meta:
        files["dataset_identity.json"]["vector_fields"] = {
            "default_field": "velocity_umap" if "velocity_umap" in vector_meta else min(vector_meta),
            "fields": vector_meta}
    return files


# ------------------------------------------------------------ the comparison

def mounted_files(mnt):
    out = set()
    for d, _, names in os.walk(mnt):
        for f in names:
            rel = os.path.relpath(os.path.join(d, f), mnt)
            if not rel.startswith("_cellucid/"):
                out.add(rel)
    return out


def payload_difference(path, want, got):
    width = {"u16": 2, "u8": 1, "f32": 4, "f64": 8, "src": 2, "dst": 2}
    if want == got:
        return None
    if len(want) != len(got):
        return f"{len(got)} bytes decoded, expected {len(want)}"
    ext = next((k for k in width if f".{k}." in path or f"{k}.bin" in path), "u8")
    dt = {"u8": "u1", "u16": "<u2", "f32": "<f4", "f64": "<f8"}.get(ext, "u1")
    if path.startswith(("points_", "vectors/")):
        dt = "<f4"
    a, b = np.frombuffer(want, dt), np.frombuffer(got, dt)
    bad = np.nonzero(a != b)[0]
    return (f"{bad.size} of {a.size} values differ, first at {bad[0]}: "
            f"{b[bad[0]]!r}, expected {a[bad[0]]!r}") if bad.size else "bytes differ"


def brief(items):
    return repr(items) if len(items) <= 6 else f"{repr(items[:6])[:-1]}, ... ({len(items)})]"


def dig(doc, dotted):
    for part in dotted.split("."):
        if isinstance(doc, tuple):
            doc = dict(doc[1])[part]
        else:
            doc = doc[int(part)]
    return doc


def main():
    mnt, h5ad, label = sys.argv[1:4]
    hand = {}
    if len(sys.argv) > 5 and sys.argv[4] == "--expect":
        hand = json.load(open(sys.argv[5]))
    want = expected(h5ad)
    failures = 0

    def report(ok, what):
        nonlocal failures
        print(f"{'ok' if ok else 'FAIL'} {label}: {what}")
        failures += not ok

    have = mounted_files(mnt)
    report(have == set(want), f"the tree holds exactly the reference's {len(want)} files"
           + ("" if have == set(want) else f" (extra {sorted(have - set(want))[:5]}, "
              f"missing {sorted(set(want) - have)[:5]})"))
    docs, n_payloads, bad_payloads = {}, 0, []
    for path in sorted(set(want) & have):
        raw = open(os.path.join(mnt, path), "rb").read()
        if path.endswith(".json"):
            docs[path] = parse_json(raw.decode())
            d = first_difference(to_doc(want[path]), docs[path])
            report(d is None, f"{path} equals the reference's, key order and number types"
                   + (f" ({d})" if d else ""))
            continue
        n_payloads += 1
        d = payload_difference(path, want[path], gzip.decompress(raw))
        if d:
            bad_payloads.append(f"{path}: {d}")
    report(not bad_payloads, f"{n_payloads} payloads decode equal to the reference's"
           + (f" ({len(bad_payloads)} differ: {'; '.join(bad_payloads[:4])})"
              if bad_payloads else ""))

    for path, codes in hand.get("codes", {}).items():
        got = list(gzip.decompress(open(os.path.join(mnt, path), "rb").read()))[:len(codes)]
        report(got == codes, f"hand-computed codes of {path}: {brief(codes)}"
               + ("" if got == codes else f" (got {got})"))
    for path, cells in hand.get("missing", {}).items():
        got = np.frombuffer(gzip.decompress(open(os.path.join(mnt, path), "rb").read()), "u1")
        at = np.nonzero(got == MISSING)[0].tolist()
        report(at == cells, f"hand-computed missing cells of {path}: {cells}"
               + ("" if at == cells else f" (got {at})"))
    for path, values in hand.get("weights", {}).items():
        got = np.frombuffer(gzip.decompress(open(os.path.join(mnt, path), "rb").read()),
                            "<f8").tolist()
        report(got == values, f"hand-computed weights of {path}: {brief(values)}"
               + ("" if got == values else f" (got {got})"))
    for where, value in hand.get("json", {}).items():
        doc, dotted = where.split(":", 1)
        try:
            got = dig(docs[doc], dotted)
        except (KeyError, IndexError, ValueError):
            got = "<absent>"
        d = first_difference(to_doc(value), got)
        report(d is None, f"hand-computed {where} = {value!r}" + (f" ({d})" if d else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
