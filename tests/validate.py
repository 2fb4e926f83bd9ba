#!/usr/bin/python3
"""Check that a mounted names-layout export is self-consistent and complete.

usage: validate.py MOUNT LABEL [N_CELLS]

For every file the manifests name: it exists, st_size equals the bytes read,
.gz files are single deterministic gzip members (mtime 0, no name, ISIZE
right), the decoded length is what the viewer expects, embeddings are finite
and normalised, codes are below their category count or the missing marker,
edges are sorted with src < dst and max_neighbors equals the largest degree.
"""
import gzip
import json
import os
import re
import struct
import sys

import numpy as np

failures = 0


def check(ok, what):
    global failures
    print(("ok " if ok else "FAIL ") + what)
    failures += 0 if ok else 1
    return ok


def safe_name(key):
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")
    return s or "field"


class Reader:
    """Reads payloads and remembers the first problem of each kind."""

    def __init__(self, root):
        self.root = root
        self.problems = []
        self.files = 0

    def problem(self, text):
        self.problems.append(text)

    def read(self, rel, expected_len=None, dtype="u1"):
        path = os.path.join(self.root, rel)
        self.files += 1
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as e:
            self.problem(f"{rel}: {e}")
            return None
        if os.stat(path).st_size != len(raw):
            self.problem(f"{rel}: st_size {os.stat(path).st_size} but {len(raw)} bytes read")
        data = raw
        if rel.endswith(".gz"):
            if len(raw) < 18 or raw[:3] != b"\x1f\x8b\x08" or raw[3] & 0xE0 or raw[3] & 0x08:
                self.problem(f"{rel}: not a plain gzip member")
                return None
            if struct.unpack("<I", raw[4:8])[0] != 0:
                self.problem(f"{rel}: gzip mtime is not 0")
            data = gzip.decompress(raw)
            if struct.unpack("<I", raw[-4:])[0] != len(data) & 0xFFFFFFFF:
                self.problem(f"{rel}: ISIZE does not match")
        if expected_len is not None and len(data) != expected_len:
            self.problem(f"{rel}: {len(data)} bytes decoded, expected {expected_len}")
            return None
        return np.frombuffer(data, dtype=dtype)


def load_json(root, rel):
    path = os.path.join(root, rel)
    with open(path, "rb") as fh:
        raw = fh.read()
    check(os.stat(path).st_size == len(raw), f"{rel}: st_size equals the bytes read")
    return json.loads(raw)


def main():
    root, label = sys.argv[1], sys.argv[2]
    ident = load_json(root, "dataset_identity.json")
    n = ident["stats"]["n_cells"]
    if len(sys.argv) > 3:
        check(n == int(sys.argv[3]), f"{label}: n_cells {n}")
    gz = ".gz" if ident["export_settings"]["compression"] else ""
    r = Reader(root)

    for d in ident["embeddings"]["available_dimensions"]:
        rel = ident["embeddings"]["files"][f"{d}d"]
        pts = r.read(rel, n * d * 4, "<f4")
        if pts is not None and (not np.isfinite(pts).all() or np.abs(pts).max() > 1.0001):
            r.problem(f"{rel}: coordinates not finite or outside [-1, 1]")

    obs = load_json(root, "obs_manifest.json")
    schemas = obs["_obsSchemas"]
    for entry in obs["_continuousFields"]:
        s = schemas["continuous"]
        rel = s["pathPattern"].replace("{key}", safe_name(entry[0]))
        dt = np.dtype(s["dtype"]).newbyteorder("<")
        r.read(rel, n * dt.itemsize, dt)
    for entry in obs["_categoricalFields"]:
        key, cats, dtype_name, missing = entry[:4]
        s = schemas["categorical"]
        ext = "u8" if dtype_name == "uint8" else "u16"
        dt = np.dtype(dtype_name).newbyteorder("<")
        codes = r.read(s["codesPathPattern"].replace("{key}", safe_name(key)).replace("{ext}", ext),
                       n * dt.itemsize, dt)
        if codes is not None and ((codes >= len(cats)) & (codes != missing)).any():
            r.problem(f"{key}: codes outside the categories")
        odt = np.dtype(s["outlierDtype"]).newbyteorder("<")
        r.read(s["outlierPathPattern"].replace("{key}", safe_name(key)), n * odt.itemsize, odt)
    check(len(obs["_continuousFields"]) + len(obs["_categoricalFields"]) == ident["stats"]["n_obs_fields"],
          f"{label}: obs manifest lists n_obs_fields fields")

    if ident["stats"]["n_genes"]:
        var = load_json(root, "var_manifest.json")
        s = var["_varSchema"]
        dt = np.dtype(s["dtype"]).newbyteorder("<")
        check(len(var["fields"]) == ident["stats"]["n_genes"], f"{label}: var manifest lists n_genes genes")
        for entry in var["fields"]:
            r.read(s["pathPattern"].replace("{key}", safe_name(entry[0])), n * dt.itemsize, dt)

    if ident["stats"]["has_connectivity"]:
        conn = load_json(root, "connectivity_manifest.json")
        e = conn["n_edges"]
        dt = np.dtype(conn["index_dtype"]).newbyteorder("<")
        src = r.read(conn["sourcesPath"], e * dt.itemsize, dt)
        dst = r.read(conn["destinationsPath"], e * dt.itemsize, dt)
        check(conn["index_dtype"] == ("uint16" if n <= 65535 else "uint32"), f"{label}: edge index width")
        if src is not None and dst is not None:
            key = src.astype(np.int64) * n + dst
            check(bool((src < dst).all() and (np.diff(key) > 0).all() and (dst < n).all()),
                  f"{label}: edges unique, sorted, src < dst < n_cells")
            degree = np.bincount(np.concatenate([src, dst]), minlength=n)
            check(int(degree.max()) <= conn["max_neighbors"], f"{label}: degrees within max_neighbors")
        check(e == ident["stats"]["n_edges"], f"{label}: n_edges agrees with the identity")

    for name in ("health", "info", "datasets"):
        doc = load_json(root, f"_cellucid/{name}")
        check(isinstance(doc, dict), f"{label}: _cellucid/{name} is a JSON object")
    ds = load_json(root, "_cellucid/datasets")["datasets"]
    check(ds == [{"id": ident["id"], "path": "/", "name": ident["name"]}], f"{label}: _cellucid/datasets names this dataset")

    for p in r.problems[:20]:
        check(False, f"{label}: {p}")
    check(not r.problems, f"{label}: {r.files} payload files decode with the expected lengths")
    # Every file in the tree, not only those the manifests name, reads fully.
    bad = []
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                if len(fh.read()) != os.stat(p).st_size:
                    bad.append(p)
    check(not bad, f"{label}: st_size equals the bytes read for every file" + (f" ({bad[:3]})" if bad else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
