#!/usr/bin/python3
"""Print the mounts tests/compat.sh makes, one per line, tab-separated:

  LABEL  H5AD  OPTIONS  WARNINGS_JSON  REFUSE  COMPARE

usage: compat_plan.py FIXTURES CASES_DIR LAYOUT

OPTIONS is the -o list ("-" for none); WARNINGS_JSON the regexes the mount log
must match ("-" for none); REFUSE "-" or the text the one-line refusal must
hold; COMPARE "-" or "LABEL=DIR" of shared/reference to compare with
tests/compare.py (names layout only). The real fixtures come first, then
every case gen_cases.py wrote (CASES_DIR/cases.json).
"""
import json
import os
import sys

fixtures, cases_dir, layout = sys.argv[1], sys.argv[2], sys.argv[3]
lines = []


def add(label, h5ad, options, warnings=None, refuse=None, compare=None):
    opts = [o for o in (options, f"layout={layout}") if o]
    lines.append("\t".join([f"{layout} {label}", h5ad, ",".join(opts) or "-",
                            json.dumps(warnings) if warnings else "-", refuse or "-",
                            compare if compare and layout == "names" else "-"]))


RAW = "compression=0,var_quantization=none,obs_quantization=none"
KNOWN = {
    "pbmc68k_reduced.h5ad": [("", "", "c6-q8=pbmc68k_reduced-c6-q8"), (" raw", RAW, "raw=pbmc68k_reduced-raw")],
    # the legacy file is the same data: with the same id and name it must equal the reference
    "pbmc68k_reduced_legacy.h5ad": [
        ("", "dataset_id=pbmc68k_reduced,dataset_name=pbmc68k_reduced", "c6-q8=pbmc68k_reduced-c6-q8"),
        (" raw", "dataset_id=pbmc68k_reduced,dataset_name=pbmc68k_reduced," + RAW, "raw=pbmc68k_reduced-raw")],
    "anndata_archive_v0.7.0.h5ad": [("", "embedding=array", None)],
    "anndata_archive_v0.7.8.h5ad": [("", "embedding=array", None)],
}
if os.path.isdir(fixtures):
    for name in sorted(os.listdir(fixtures)):
        if not name.endswith(".h5ad"):
            continue
        path = os.path.join(fixtures, name)
        if name == "anndata_archive_v0.11.4.h5ad":
            add(f"fixture {name}", path, "", refuse="no embedding")
        elif name in KNOWN:
            for suffix, opts, cmp in KNOWN[name]:
                add(f"fixture {name}{suffix}", path, opts, compare=cmp)
        else:   # a fixture added later: it mounts, or is refused with one clear line
            add(f"fixture {name}", path, "", refuse="?")

for c in json.load(open(os.path.join(cases_dir, "cases.json"))):
    path = os.path.join(cases_dir, c["file"])
    for run in c["runs"]:
        add(f"case {c['name']}{run['suffix']}", path, run["options"],
            warnings=(run.get("warnings") or c["warnings"])[layout],
            refuse=run.get("refuse") or c["refuse"])

print("\n".join(lines))
