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

# --- many members: at most 64 of their files open at a time (each opened again
# when read, after a check that it is the same file), every member served; a
# member changed while mounted fails alone, with EIO and a log line
$PY tests/gen_outside.py "$T/gen" "$T/gen-secret"
mkdir -p "$T/many"
for i in $(seq -w 1 150); do cp "$T/gen/plain.h5ad" "$T/many/m$i.h5ad"; done
open_h5() { ls -l "/proc/$MOUNT_PID/fd" | grep -c '\.h5ad$'; }
if mount_fs "$T/many" "$T/mnt2" -o cache_dir=none,prefetch=none; then
	n=$(open_h5)
	check "150 members: at most 64 of their files open ($n)" test "$n" -le 64
	echo x >>"$T/many/m001.h5ad"   # the first opened, so closed since
	served=0
	for i in $(seq -w 2 150); do [ -s "$T/mnt2/m$i/points_2d.bin.gz" ] && served=$((served + 1)); done
	check "every other member's points are served ($served of 149)" test "$served" -eq 149
	n=$(open_h5)
	check "and still at most 64 files open ($n)" test "$n" -le 64
	n=$(ls "/proc/$MOUNT_PID/fd" | wc -l)
	check "without a cache directory, 150 members take at most 100 descriptors ($n)" test "$n" -le 100
	out=$(cat "$T/mnt2/m001/points_2d.bin.gz" 2>&1 >/dev/null)
	check "the member changed while mounted fails with EIO" grep -q "Input/output error" <<<"$out"
	check "and its log line says why" grep -q "points_2d.bin.gz: m001.h5ad changed while mounted" "$MOUNT_LOG"
	unmount_fs "$T/mnt2"; check "the daemon of 150 members exits 0" test $? -eq 0
else
	fail "mount a directory of 150 .h5ad files"
fi

# --- 1 000 members with a cache directory: every member's
# dataset_identity.json read, and the daemon's descriptors stay bounded
# (64 open sources, 32 open stores, one lock file), not 3 per member.
# (Without one, a member's built gene index is a temporary file held open:
# one descriptor per member whose index was built.)
mkdir -p "$T/thousand"
for i in $(seq -w 1 1000); do cp "$T/gen/plain.h5ad" "$T/thousand/m$i.h5ad"; done
few_fds() { test "$(ls "/proc/$MOUNT_PID/fd" | wc -l)" -le 200; }
what="1 000 members, cache_dir=\$T/cache1000"
if mount_fs "$T/thousand" "$T/mnt3" -o "cache_dir=$T/cache1000,prefetch=none"; then
	read_ok=0
	for i in $(seq -w 1 1000); do
		[[ $(cat "$T/mnt3/m$i/dataset_identity.json" 2>/dev/null) == *'"id"'* ]] && read_ok=$((read_ok + 1))
	done
	check "$what: every member's dataset_identity.json is served ($read_ok of 1000)" \
		test "$read_ok" -eq 1000
	# (gene indexes still being built hold a scratch file each until done)
	wait_until 60 few_fds
	n=$(ls "/proc/$MOUNT_PID/fd" | wc -l)
	check "$what: at most 200 descriptors open once idle ($n)" test "$n" -le 200
	unmount_fs "$T/mnt3"; check "$what: the daemon exits 0" test $? -eq 0
else
	fail "$what: mount"
fi

mkdir -p "$T/empty"
out=$("$BIN" "$T/empty" "$T/mnt" -f 2>&1)
check "a directory without usable .h5ad is refused" grep -q "no usable .h5ad file" <<<"$out"
finish
