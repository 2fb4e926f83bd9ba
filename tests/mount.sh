#!/usr/bin/env bash
# tests/mount.sh - mount the real pbmc68k_reduced.h5ad and check it end to end:
# every file equal (decoded) to the reference export under both reference
# settings, a self-consistent tree, cp -r reproducible, writes refused with
# EROFS, clean exits on unmount and SIGTERM, clear refusals for bad input,
# readahead for a sequential reader, and a file that cannot be generated
# failing with EIO while the mount stays up.
#
#   $ bash tests/mount.sh
#   ok c6-q8: same 786 file names as the reference
#   ...
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
mount_test_setup "mount tests"

# The reference export is the 0.9 exporter's: the names layout (layout=index,
# the default, is compared with the newest exporter's rules in parity.sh).
# --- default settings against the compression-6, 8-bit reference
if mount_fs "$PBMC" "$T/mnt" -o layout=names; then
	$PY tests/compare.py "$T/mnt" "$REFERENCE/pbmc68k_reduced-c6-q8" c6-q8 || true
	$PY tests/validate.py "$T/mnt" c6-q8 700 || true

	cp -r "$T/mnt" "$T/copy1" && cp -r "$T/mnt" "$T/copy2"
	check "cp -r twice gives identical trees" diff -r "$T/copy1" "$T/copy2"
	check "cp -r gives the mounted bytes" diff -r "$T/mnt" "$T/copy1"

	f=$T/mnt/obs_manifest.json
	out=$( { echo x >>"$f"; } 2>&1 ); check "appending to a file fails with EROFS" grep -q "Read-only file system" <<<"$out"
	out=$(touch "$T/mnt/new" 2>&1); check "creating a file fails with EROFS" grep -q "Read-only file system" <<<"$out"
	out=$(mkdir "$T/mnt/dir" 2>&1); check "mkdir fails with EROFS" grep -q "Read-only file system" <<<"$out"
	out=$(rm -f "$f" 2>&1); check "unlink fails with EROFS" grep -q "Read-only file system" <<<"$out"
	out=$(mv "$f" "$T/mnt/x.json" 2>&1); check "rename fails with EROFS" grep -q "Read-only file system" <<<"$out"
	out=$(chmod 644 "$f" 2>&1); check "chmod fails with EROFS" grep -q "Read-only file system" <<<"$out"
	check "files are 0444, directories 0555" test "$(stat -c %a "$f")/$(stat -c %a "$T/mnt/obs")" = 444/555
	check "mtime is the .h5ad's" test "$(stat -c %Y "$f")" = "$(stat -c %Y "$PBMC")"
	check "a missing name is ENOENT" test ! -e "$T/mnt/var/NO_SUCH_GENE.values.u8.gz"
	unmount_fs "$T/mnt"; check "fusermount3 -u ends the daemon with status 0" test $? -eq 0
else
	fail "mount pbmc68k_reduced.h5ad with default settings and layout=names"
fi

# --- plain float32 files against the raw reference
if mount_fs "$PBMC" "$T/mnt" -o layout=names,compression=0,var_quantization=none,obs_quantization=none; then
	$PY tests/compare.py "$T/mnt" "$REFERENCE/pbmc68k_reduced-raw" raw || true
	$PY tests/validate.py "$T/mnt" raw 700 || true
	kill -TERM "$MOUNT_PID"
	wait_daemon; check "SIGTERM ends the daemon with status 0" test $? -eq 0
	check "SIGTERM unmounts" bash -c "! mountpoint -q '$T/mnt'"
else
	fail "mount pbmc68k_reduced.h5ad with -o layout=names,compression=0,var_quantization=none,obs_quantization=none"
fi

# --- refusals: one clear line, non-zero status, no mount
mkdir -p "$T/mnt"
echo "not hdf5" >"$T/bogus.h5ad"
refused "a non-HDF5 file is refused" "cannot open $T/bogus.h5ad: not an HDF5 file" "$T/bogus.h5ad" "$T/mnt"
refused "a missing file is refused" "No such file or directory" "$T/none.h5ad" "$T/mnt"
refused "compression=12 is refused naming the option" "compression" "$PBMC" "$T/mnt" -o compression=12
refused "var_quantization=7 is refused naming the option" "var_quantization" "$PBMC" "$T/mnt" -o var_quantization=7
refused "an unknown embedding key is refused" "embedding=X_nope" "$PBMC" "$T/mnt" -o embedding=X_nope
if [ -f "$FIXTURES/anndata_archive_v0.11.4.h5ad" ]; then
	refused "a file without embedding is refused" "no embedding" "$FIXTURES/anndata_archive_v0.11.4.h5ad" "$T/mnt"
fi

# --- embedding=KEY: the first 3 columns of X_pca as the only embedding
if mount_fs "$PBMC" "$T/mnt" -o layout=names,embedding=X_pca; then
	check "embedding=X_pca gives points_3d only" test -f "$T/mnt/points_3d.bin.gz" -a ! -e "$T/mnt/points_2d.bin.gz"
	$PY tests/validate.py "$T/mnt" embedding=X_pca 700 || true
	unmount_fs "$T/mnt"
else
	fail "mount with -o layout=names,embedding=X_pca"
fi

# --- readahead: genes looked up one by one in directory order, slowly enough
# that most are ready when asked for, are still generated ahead of the reader
# (before, readahead stopped at the end of every window)
generated_at_least() {
	$PY -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["files_generated"] < int(sys.argv[2]))' \
		"$T/mnt/.cellucidfs/status.json" "$1"
}
if mount_fs "$PBMC" "$T/mnt" -o cache_dir=none,prefetch=none; then
	ls -U "$T/mnt/var" | head -n 120 >"$T/order"
	while read -r f; do stat "$T/mnt/var/$f" >/dev/null; sleep 0.02; done <"$T/order"
	check "readahead runs ahead of a sequential reader (over 160 files made for 120 read)" \
		wait_until 10 generated_at_least 161
	unmount_fs "$T/mnt"
else
	fail "mount with -o cache_dir=none,prefetch=none"
fi

# --- listings carry the entries (readdirplus): a file listed before it was
# generated still stats with its exact size, and once the prefetch pool has
# generated it (readahead here), its bytes are in the page cache: reading it
# needs no request (status.json's bytes_served does not move)
bytes_served() {
	$PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["bytes_served"])' \
		"$T/mnt/.cellucidfs/status.json"
}
if mount_fs "$PBMC" "$T/mnt" -o layout=names,cache_dir=none,prefetch=none; then
	ls -U "$T/mnt/var" >"$T/order"
	head -n 60 "$T/order" | while read -r f; do stat "$T/mnt/var/$f" >/dev/null; done
	# The window has grown to 64 files by then: files 61 to 99 are the pool's.
	check "readahead after 60 stats of listed files (99 files made)" \
		wait_until 10 generated_at_least 99
	before=$(bytes_served)
	sed -n 70,90p "$T/order" >"$T/ahead"
	sizes_ok=1 same=1
	while read -r f; do
		size=$(stat -c %s "$T/mnt/var/$f")
		[ "$size" -gt 0 ] && [ "$size" = "$(wc -c <"$T/mnt/var/$f")" ] || sizes_ok=0
		cmp -s <(gunzip -c "$T/mnt/var/$f") \
			<(gunzip -c "$REFERENCE/pbmc68k_reduced-c6-q8/var/$f") || same=0
	done <"$T/ahead"
	check "files listed before they were generated stat with their exact size" test "$sizes_ok" = 1
	check "and read as the reference's bytes (decoded)" test "$same" = 1
	check "and came from the page cache: no bytes served by the daemon ($before, then $(bytes_served))" \
		test "$(bytes_served)" = "$before"
	unmount_fs "$T/mnt"
else
	fail "mount with -o layout=names,cache_dir=none,prefetch=none"
fi

# --- a damaged X chunk: gene files fail with EIO, everything else still serves
if $PY tests/damage_x.py "$PBMC" "$T/damaged.h5ad" && mount_fs "$T/damaged.h5ad" "$T/mnt" -o layout=names; then
	out=$(cat "$T/mnt/var/HES4.values.u8.gz" 2>&1 >/dev/null)
	check "a gene that cannot be generated fails with EIO" grep -q "Input/output error" <<<"$out"
	check "the failure is logged" grep -q "cannot generate var/" "$MOUNT_LOG"
	check "the mount stays up after EIO" cmp -s <(gunzip -c "$T/mnt/obs/louvain.codes.u8.gz") \
		<(gunzip -c "$REFERENCE/pbmc68k_reduced-c6-q8/obs/louvain.codes.u8.gz")
	unmount_fs "$T/mnt"
else
	fail "mount a copy of pbmc68k_reduced.h5ad with a damaged X chunk"
fi
# --- a damaged optional graph: dataset_identity.json leaves it out (with a
# warning) instead of failing the whole dataset; the edge files fail with EIO
if $PY - "$PBMC" "$T/badgraph.h5ad" <<'PYEOF'
import shutil, sys
import h5py, numpy as np
shutil.copyfile(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    g = f["obsp/connectivities"]
    n = len(g["indices"])
    del g["indices"]
    g["indices"] = np.full(n, 10**6, dtype=np.int32)   # every neighbour out of range
PYEOF
then
	if mount_fs "$T/badgraph.h5ad" "$T/mnt" -o cache_dir=none,prefetch=none; then
		check "a damaged graph: dataset_identity.json still reads, without the graph" $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["stats"]["has_connectivity"] is False, d["stats"]' "$T/mnt/dataset_identity.json"
		check "a damaged graph: left out with a warning naming it" \
			grep -q "dataset_identity.json: the kNN graph is left out: obsp/connectivities" "$MOUNT_LOG"
		out=$(cat "$T/mnt/connectivity/edges.src.bin.gz" 2>&1 >/dev/null)
		check "a damaged graph: its edge files fail with EIO" grep -q "Input/output error" <<<"$out"
		check "a damaged graph: the rest serves" test -s "$T/mnt/points_2d.bin.gz"
		unmount_fs "$T/mnt"
	else
		fail "mount a copy of pbmc68k_reduced.h5ad with a damaged graph"
	fi
else
	skip "a damaged graph: h5py cannot write the copy"
fi
finish
