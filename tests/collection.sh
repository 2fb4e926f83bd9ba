#!/usr/bin/env bash
# tests/collection.sh - a directory of .h5ad files as the source
# (export-format.md §7): one subdirectory per dataset named by its id, each
# the same tree a single-file mount gives (less its _cellucid/), plus
# datasets.json and _cellucid/* listing them all; unusable files are skipped
# with a warning, not fatal.
source "$(dirname "$0")/lib.sh"

mount_test_setup collection
mkdir -p "$T/src"
cp -p "$FIXTURES/pbmc68k_reduced.h5ad" "$FIXTURES/pbmc68k_reduced_legacy.h5ad" "$T/src/"
cp "$FIXTURES/anndata_archive_v0.11.4.h5ad" "$T/src/"      # no embedding: skipped
echo "not hdf5" >"$T/src/broken.h5ad"                        # not HDF5: skipped
echo "ignored" >"$T/src/notes.txt"                           # not .h5ad: ignored

# compare.py checks a dataset against the 0.9 exporter's reference: layout=names.
mount_fs "$T/src" "$T/mnt" -o layout=names || { fail "mount a directory of .h5ad files"; finish; exit; }
check "one directory per usable dataset, datasets.json and _cellucid" \
	test "$(ls "$T/mnt" | tr '\n' ' ')" = "_cellucid datasets.json pbmc68k_reduced pbmc68k_reduced_legacy "
check "unusable files are skipped with a warning" \
	grep -q "broken.h5ad skipped: not an HDF5 file" "$MOUNT_LOG"
check "a file without embedding is skipped with its reason" \
	grep -q "anndata_archive_v0.11.4.h5ad skipped: no embedding" "$MOUNT_LOG"
check "datasets.json lists every dataset" $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and d["default"] == "pbmc68k_reduced", d
assert [(x["id"], x["path"], x["name"]) for x in d["datasets"]] == [
    ("pbmc68k_reduced", "pbmc68k_reduced/", "pbmc68k_reduced"),
    ("pbmc68k_reduced_legacy", "pbmc68k_reduced_legacy/", "pbmc68k_reduced_legacy")], d
' "$T/mnt/datasets.json"
check "_cellucid/datasets lists them at /ID/" $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["path"] for x in d["datasets"]] == ["/pbmc68k_reduced/", "/pbmc68k_reduced_legacy/"], d
' "$T/mnt/_cellucid/datasets"
check "_cellucid/health is the export server's" grep -q '"type":"exported"' "$T/mnt/_cellucid/health"
check "a dataset has no _cellucid of its own" test ! -e "$T/mnt/pbmc68k_reduced/_cellucid"
check ".. of a dataset is the root" test "$(stat -c %i "$T/mnt/pbmc68k_reduced/..")" = "$(stat -c %i "$T/mnt")"
$PY tests/compare.py "$T/mnt/pbmc68k_reduced" "$REFERENCE/pbmc68k_reduced-c6-q8" collection/modern || true

mount_fs "$T/src/pbmc68k_reduced.h5ad" "$T/mnt1" -o layout=names
check "a dataset's directory equals its single-file mount" \
	diff -r -x _cellucid "$T/mnt/pbmc68k_reduced" "$T/mnt1"
fusermount3 -u "$T/mnt1"
unmount_fs "$T/mnt"; check "unmounting a collection ends the daemon with status 0" test $? -eq 0

mkdir -p "$T/empty"
out=$("$BIN" "$T/empty" "$T/mnt" -f 2>&1)
check "a directory without usable .h5ad is refused" grep -q "no usable .h5ad file" <<<"$out"
finish
