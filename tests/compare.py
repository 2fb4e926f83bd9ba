#!/usr/bin/python3
"""Compare a cellucidfs mount with a reference export, file by file, decoded.

usage: compare.py MOUNT REFERENCE LABEL

Tolerances (shared/fixtures/README.md): codes and edges exactly; float32
within 1e-6 relative; quantised values may differ by one step on at most
0.1 % of cells. JSON documents must be equal value for value, except
created_at and cellucid_data_version. Prints one "ok"/"FAIL" line per group
of files (and one per differing file), as tests/run.sh counts them.
"""
import gzip
import json
import math
import os
import sys

import numpy as np

IGNORED_KEYS = {"created_at", "cellucid_data_version"}


def tree(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def read_payload(path):
    with open(path, "rb") as fh:
        data = fh.read()
    return gzip.decompress(data) if path.endswith(".gz") else data


def json_diff(a, b, where="$"):
    """First difference between two parsed documents, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in IGNORED_KEYS:
                continue
            if k not in a or k not in b:
                return f"{where}.{k}: present on one side only"
            d = json_diff(a[k], b[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = json_diff(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return None if a is b else f"{where}: {a!r} != {b!r}"
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return None
        if abs(a - b) <= 1e-6 * max(abs(a), abs(b)):
            return None
        return f"{where}: {a!r} != {b!r}"
    return None if a == b else f"{where}: {a!r} != {b!r}"


def dtype_of(rel, conn):
    name = os.path.basename(rel).removesuffix(".gz")
    if name.startswith("edges."):
        return np.dtype(conn["index_dtype"])
    if name.endswith(".bin") or name.endswith(".f32"):
        return np.dtype("<f4")
    return np.dtype("<u2") if name.endswith(".u16") else np.dtype("u1")


def compare_binary(rel, mine, ref, conn):
    dt = dtype_of(rel, conn)
    a = np.frombuffer(mine, dtype=dt)
    b = np.frombuffer(ref, dtype=dt)
    if a.shape != b.shape:
        return f"{len(mine)} bytes decoded, reference {len(ref)}", 0
    if dt.kind == "f":
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        close = same | (np.abs(a.astype(np.float64) - b) <= 1e-6 * np.maximum(np.abs(a), np.abs(b)))
        bad = int((~close).sum())
        return (f"{bad} float32 values differ beyond 1e-6 relative" if bad else None), 0
    diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
    exact = ".codes." in rel or rel.startswith("connectivity/")
    if exact:
        bad = int((diff != 0).sum())
        return (f"{bad} values differ (must be exact)" if bad else None), 0
    missing = np.iinfo(dt).max
    one_step = int(((diff == 1) & (a != missing) & (b != missing)).sum())
    worse = int(((diff > 1) | ((diff == 1) & ((a == missing) | (b == missing)))).sum())
    if worse or one_step > 0.001 * len(a):
        return f"{worse} codes off by more than one step, {one_step} by one", one_step
    return None, one_step


def main():
    mount, ref, label = sys.argv[1], sys.argv[2], sys.argv[3]
    failures = 0

    def check(ok, what):
        nonlocal failures
        print(("ok " if ok else "FAIL ") + what)
        failures += 0 if ok else 1

    mine_files = {f for f in tree(mount) if not f.startswith("_cellucid/")}
    ref_files = tree(ref)
    check(mine_files == ref_files,
          f"{label}: same {len(ref_files)} file names as the reference"
          + ("" if mine_files == ref_files else
             f" (missing {sorted(ref_files - mine_files)[:5]}, extra {sorted(mine_files - ref_files)[:5]})"))

    conn_path = os.path.join(ref, "connectivity_manifest.json")
    conn = json.load(open(conn_path)) if os.path.exists(conn_path) else {}
    groups = {}
    for rel in sorted(ref_files & mine_files):
        group = rel.split("/")[0] if "/" in rel else "json" if rel.endswith(".json") else "points"
        stats = groups.setdefault(group, {"n": 0, "bad": 0, "one_step": 0})
        stats["n"] += 1
        mpath, rpath = os.path.join(mount, rel), os.path.join(ref, rel)
        if rel.endswith(".json"):
            problem = json_diff(json.load(open(mpath)), json.load(open(rpath)))
        else:
            problem, one_step = compare_binary(rel, read_payload(mpath), read_payload(rpath), conn)
            stats["one_step"] += one_step
        if problem:
            stats["bad"] += 1
            check(False, f"{label}: {rel}: {problem}")
    for group, s in sorted(groups.items()):
        check(s["bad"] == 0, f"{label}: {group}: {s['n'] - s['bad']}/{s['n']} files equal to the reference"
              f" ({s['one_step']} quantised codes one step off)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
