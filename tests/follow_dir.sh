#!/usr/bin/env bash
# tests/follow_dir.sh - a mounted directory source gains and loses datasets
# (fs/ll_members.c, fs/watch.c), under Landlock and seccomp as mounted by
# default:
#   - a .h5ad copied in slowly is not offered (datasets.json, the root's
#     listing, _cellucid/datasets) before it has been quiet for settle
#     seconds; then it appears, every file equal to `cellucidfs export` of it,
#     and its name, looked up while absent, resolves;
#   - a Zarr store renamed in appears the same way;
#   - a removed one disappears: unlisted, its files ENOENT, while a file
#     opened before reads the old bytes; brought back, it is served again;
#   - datasets.json gets a newer mtime, and an open datasets.json reads the
#     catalog it opened;
#   - nginx under 16 connections while a member comes and goes ten times:
#     every response is 200 or 404 (for names one state lacks) and equals
#     that file in one of the states.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/follow_lib.sh"
mount_test_setup "follow a directory source"
if ! $PY -c "import anndata" 2>/dev/null; then
	skip "follow a directory source: $PY lacks anndata (apt-get install python3-anndata)"; exit 0
fi
PBMC=$FIXTURES/pbmc68k_reduced.h5ad
chmod 755 "$T"

ids() { $PY -c 'import json,sys; print(" ".join(d["id"] for d in json.load(open(sys.argv[1]))["datasets"]))' "$1"; }
has_ids() { test "$(ids "$1/datasets.json")" = "$2"; }
# export_member SRC DST: the export of SRC as a collection serves it (no _cellucid/).
export_member() {
	rm -rf "$2"
	"$BIN" export "$1" "$2" -o cache_dir=none >/dev/null 2>&1 && rm -rf "$2/_cellucid"
}
same_tree() { diff -r "$1" "$2" >/dev/null; }

mkdir -p "$T/dir" "$T/stage"
cp -p "$PBMC" "$T/dir/x.h5ad"
(cd "$T" && $PY -W ignore -c "
import anndata, numpy as np
a = anndata.read_h5ad('$PBMC')
b = a[:333].copy(); b.obs['late'] = np.arange(333.0); b.write_h5ad('stage/y.h5ad')
a[200:].copy().write_zarr('stage/z.zarr')") 2>&1 | grep -v Warning
export_member "$T/dir/x.h5ad" "$T/exp_x"
export_member "$T/stage/y.h5ad" "$T/exp_y"
export_member "$T/stage/z.zarr" "$T/exp_z"

if mount_fs "$T/dir" "$T/mnt"; then
	check "mounted: datasets.json lists x" has_ids "$T/mnt" x
	check "a name not yet there is absent (the kernel may cache that)" test ! -e "$T/mnt/y"
	ls "$T/mnt" >/dev/null
	mtime0=$(stat -c %Y "$T/mnt/datasets.json")
	exec 3<"$T/mnt/datasets.json"

	# A copy in 10 pieces, 0.3 s apart: never quiet for settle (1 s).
	$PY -c '
import sys, time
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    for i in range(10):
        f.write(data[i * len(data) // 10:(i + 1) * len(data) // 10])
        f.flush()
        time.sleep(0.3)' "$T/stage/y.h5ad" "$T/dir/y.h5ad" &
	writer=$! early=
	while kill -0 $writer 2>/dev/null; do
		has_ids "$T/mnt" x && ! ls "$T/mnt" | grep -qx y || early=1
	done
	wait $writer
	touch -r "$T/stage/y.h5ad" "$T/dir/y.h5ad"
	check "a file being copied in is not offered before it settles" test -z "$early"
	check "...nor tried while it is being written" bash -c "! grep -q 'y.h5ad skipped' '$MOUNT_LOG'"
	start=$SECONDS
	if wait_until 20 has_ids "$T/mnt" "x y"; then
		ok "the new file appears in datasets.json within $((SECONDS - start)) s of its copy"
	else
		fail "datasets.json still lists '$(ids "$T/mnt/datasets.json")' 20 s after the copy"
	fi
	check "the new dataset is in the root's listing" test "$(ls "$T/mnt" | tr '\n' ' ')" = "_cellucid datasets.json x y "
	check "...and in _cellucid/datasets" grep -q '"/y/"' "$T/mnt/_cellucid/datasets"
	check "its files equal the export of the new file" same_tree "$T/mnt/y" "$T/exp_y"
	check "the addition is logged" grep -q "y.h5ad added: now 333 cells, 765 genes" "$MOUNT_LOG"
	check "datasets.json has a newer mtime" test "$(stat -c %Y "$T/mnt/datasets.json")" -gt "$mtime0"
	check "a datasets.json opened before reads the catalog it opened" \
		test "$($PY -c 'import json,sys; print(" ".join(d["id"] for d in json.load(sys.stdin)["datasets"]))' <&3)" = x
	exec 3<&-

	mv "$T/stage/z.zarr" "$T/dir/z.zarr"
	check "a Zarr store renamed in appears" wait_until 20 has_ids "$T/mnt" "x y z"
	check "...every file equal to the export of the store" same_tree "$T/mnt/z" "$T/exp_z"

	exec 3<"$T/mnt/x/obs_manifest.json"
	mv "$T/dir/x.h5ad" "$T/stage/x.h5ad"
	check "a removed file leaves datasets.json" wait_until 20 has_ids "$T/mnt" "y z"
	check "...and the root's listing" test "$(ls "$T/mnt" | tr '\n' ' ')" = "_cellucid datasets.json y z "
	check "...and _cellucid/datasets" bash -c "! grep -q '\"/x/\"' '$T/mnt/_cellucid/datasets'"
	check "its files are gone (ENOENT)" bash -c "cat '$T/mnt/x/obs_manifest.json' 2>&1 | grep -q 'No such file'"
	check "a file opened before the removal reads the old bytes" cmp -s /dev/fd/3 "$T/exp_x/obs_manifest.json"
	exec 3<&-
	check "the removal is logged" grep -q "x.h5ad removed: dataset 'x' is no longer served" "$MOUNT_LOG"
	check "the default dataset is now the first present" \
		grep -q '"default":[[:space:]]*"y"' "$T/mnt/datasets.json"
	mv "$T/stage/x.h5ad" "$T/dir/x.h5ad"
	check "the file brought back is served again" wait_until 20 has_ids "$T/mnt" "x y z"
	check "...every file equal to its export" same_tree "$T/mnt/x" "$T/exp_x"
	unmount_fs "$T/mnt"; rc=$?
	check "the daemon exits 0 on unmount (status $rc)" test "$rc" -eq 0
else
	fail "mount a directory of one .h5ad"
fi

# --- nginx under load while a member comes and goes ---------------------------
if ! command -v nginx >/dev/null; then
	skip "follow a directory source under nginx load: nginx is not installed"
	finish; exit
fi
mkdir -p "$T/load" "$T/one" "$T/two"
cp -p "$PBMC" "$T/load/a.h5ad"
cp -p "$T/stage/y.h5ad" "$T/b.h5ad"
chmod -R a+rX "$T/load" "$T/b.h5ad"
export_member "$T/load/a.h5ad" "$T/one/a"
export_member "$T/b.h5ad" "$T/two/b"
cp -r "$T/one/a" "$T/two/a"
# state DIR: the catalog's documents as served now, beside the members' exports.
state() {
	mkdir -p "$1/_cellucid"
	cp "$T/mnt2/datasets.json" "$1/" && cp "$T/mnt2/_cellucid/datasets" "$1/_cellucid/"
}
add_b() { cp -p "$T/b.h5ad" "$T/load/.b.h5ad" && mv "$T/load/.b.h5ad" "$T/load/b.h5ad"; }
# The k-th change: b removed, then added again, ...
toggle_b() { if [ $(($1 % 2)) -eq 1 ]; then rm "$T/load/b.h5ad"; else add_b; fi; }
if mount_fs "$T/load" "$T/mnt2" -o allow_other; then
	state "$T/one"
	add_b
	wait_until 20 has_ids "$T/mnt2" "a b"
	state "$T/two"
	check "under load: the states' documents list a, then a and b" \
		test "$(ids "$T/one/datasets.json")/$(ids "$T/two/datasets.json")" = "a/a b"
	if load_while_changing "$T/mnt2" 18200 toggle_b "$T/one" "$T/two"; then
		check "under load: the mount ends with both members" wait_until 10 has_ids "$T/mnt2" "a b"
		check "under load: b's files equal its export" same_tree "$T/mnt2/b" "$T/two/b"
		check "under load: 5 removals and 5 additions logged (and the one before)" test \
			"$(grep -c 'b.h5ad removed' "$MOUNT_LOG")/$(grep -c 'b.h5ad added' "$MOUNT_LOG")" = 5/6
	fi
	unmount_fs "$T/mnt2"; rc=$?
	check "under load: the daemon exits 0 on unmount (status $rc)" test "$rc" -eq 0
else
	fail "mount for the load test"
fi
finish
