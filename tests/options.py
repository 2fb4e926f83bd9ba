#!/usr/bin/python3
"""Helpers of tests/options.sh: make a test file, check a mount's genes.

usage: options.py make IN.h5ad OUT.h5ad
         copy IN with a string var column gene_ids ("ENSG00000", ...) and
         layers/counts = raw/X stored as CSC
       options.py genes MOUNT SOURCE.h5ad MATRIX LABEL
         every gene file of MOUNT decodes to its column of SOURCE's MATRIX
         (a dense array or a csr/csc group; legacy h5sparse too), exactly
         for float32, within one quantisation step otherwise
       options.py names MOUNT SOURCE.h5ad COLUMN LABEL
         var_manifest.json names the genes by str() of var[COLUMN], in var
         order, and says var_gene_id_column COLUMN
"""
import gzip
import json
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from validate import safe_name  # noqa: E402


def check(ok, what):
    print(("ok " if ok else "FAIL ") + what)
    return ok


def dense(element):
    """A 2-d matrix element as a float32 array."""
    if isinstance(element, h5py.Dataset):
        return element[()].astype(np.float32)
    attrs = element.attrs
    fmt = attrs.get("encoding-type", attrs.get("h5sparse_format"))
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    shape = attrs["shape"] if "shape" in attrs else attrs["h5sparse_shape"]
    data, indices, indptr = (element[k][()] for k in ("data", "indices", "indptr"))
    out = np.zeros(shape if fmt.startswith("csr") else shape[::-1], np.float32)
    for major in range(len(indptr) - 1):
        span = slice(indptr[major], indptr[major + 1])
        np.add.at(out[major], indices[span], data[span].astype(np.float32))
    return out if fmt.startswith("csr") else out.T


def make(src, dst):
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        var = f["var"]
        n = var[var.attrs["_index"]].shape[0]
        ids = var.create_dataset("gene_ids", data=[f"ENSG{i:05d}" for i in range(n)],
                                 dtype=h5py.string_dtype())
        ids.attrs["encoding-type"] = "string-array"
        ids.attrs["encoding-version"] = "0.2.0"
        order = [c.decode() if isinstance(c, bytes) else c for c in var.attrs["column-order"]]
        var.attrs["column-order"] = np.array(order + ["gene_ids"], dtype=h5py.string_dtype())
        m = dense(f["raw/X"])
        cols, rows = np.nonzero(m.T)
        g = f.require_group("layers").create_group("counts")
        g.attrs["encoding-type"] = "csc_matrix"
        g.attrs["encoding-version"] = "0.1.0"
        g.attrs["shape"] = np.array(m.shape, dtype=np.int64)
        g["data"] = m[rows, cols]
        g["indices"] = rows.astype(np.int32)
        g["indptr"] = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=m.shape[1]))])
    return 0


def manifest(mount):
    with open(os.path.join(mount, "var_manifest.json")) as fh:
        return json.load(fh)


def genes(mount, source, matrix, label):
    with h5py.File(source, "r") as f:
        m = dense(f[matrix])
    man = manifest(mount)
    fields, schema = man["fields"], man["_varSchema"]
    if not check(len(fields) == m.shape[1], f"{label}: {len(fields)} genes, {m.shape[1]} in {matrix}"):
        return 1
    bad = []
    for j, field in enumerate(fields):
        rel = schema["pathPattern"].replace("{key}", safe_name(field[0]))
        with open(os.path.join(mount, rel), "rb") as fh:
            raw = fh.read()
        raw = gzip.decompress(raw) if rel.endswith(".gz") else raw
        want = m[:, j]
        if not schema["quantized"]:
            ok = np.array_equal(np.frombuffer(raw, "<f4"), want)
        else:
            bits = schema["quantizationBits"]
            top = 254 if bits == 8 else 65534
            lo, hi = field[1], field[2]
            codes = np.frombuffer(raw, "<u1" if bits == 8 else "<u2").astype(np.int64)
            expect = np.clip(np.trunc((want - np.float32(lo)) * np.float32(top / (hi - lo))), 0, top)
            top_value = want.max() if want.max() > want.min() else want.min() + 1
            ok = (np.float32(lo) == want.min() and np.float32(hi) == top_value and
                  np.abs(codes - expect).max() <= 1)
        if not ok:
            bad.append(field[0])
    check(not bad, f"{label}: every gene equals its {matrix} column"
          + (f" (differ: {', '.join(bad[:5])})" if bad else ""))
    return 1 if bad else 0


def names(mount, source, column, label):
    with h5py.File(source, "r") as f:
        values = f["var"][column][()]
    want = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    man = manifest(mount)
    got = [field[0] for field in man["fields"]]
    ok = check(got == want, f"{label}: gene names are str() of var/{column}")
    ok &= check(man["var_gene_id_column"] == column, f"{label}: var_gene_id_column is {column}")
    return 0 if ok else 1


if __name__ == "__main__":
    commands = {"make": make, "genes": genes, "names": names}
    sys.exit(commands[sys.argv[1]](*sys.argv[2:]))
