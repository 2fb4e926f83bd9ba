#!/usr/bin/env bash
# tests/follow.sh - a mounted .h5ad rewritten by anndata or replaced by a
# rename shows up as the new version, never a mix (fs/watch.c,
# fs/ll_version.c):
#   - anndata's write_h5ad onto the mounted file succeeds (no HDF5 lock);
#   - after an in-place rewrite and after a rename over the file, within
#     settle + generation time, every file equals `cellucidfs export` of the
#     new file, with the new mtime, the switch logged and counted in
#     status.json (an identity, no path);
#   - a file opened before a switch reads the old bytes;
#   - watch=no: the old version is served from what was generated, and what
#     would need the changed file fails with EIO and "changed while mounted";
#   - a rewritten member of a directory source switches;
#   - dataset_identity.json gets the new file's created_at;
#   - nginx under 16 connections while the source is replaced ten times:
#     every response is 200 or 404 and equals a version's file (a directory
#     source gaining and losing files: tests/follow_dir.sh);
#   - bad watch= and settle= values are refused; every daemon exits 0 on
#     unmount (the watcher joined).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/follow_lib.sh"
mount_test_setup "follow the source"
if ! $PY -c "import anndata" 2>/dev/null; then
	skip "follow the source: $PY lacks anndata (apt-get install python3-anndata)"; exit 0
fi
PBMC=$FIXTURES/pbmc68k_reduced.h5ad
chmod 755 "$T"

# write_h5ad SRC DST PYTHON-EXPR: DST = anndata's write of EXPR over `a` (SRC).
write_h5ad() {
	(cd "$T" && $PY -W ignore -c "
import anndata, numpy as np
a = anndata.read_h5ad('$1')
b = $3
b.write_h5ad('$2')") 2>&1 | grep -v Warning
	return "${PIPESTATUS[0]}"
}
created_at() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["created_at"])' "$1/dataset_identity.json"; }
n_cells() { grep -o '"n_cells":[[:space:]]*[0-9]*' "$1/dataset_identity.json" | grep -o '[0-9]*$'; }
has_cells() { test "$(n_cells "$1")" = "$2"; }
export_of() { rm -rf "$2"; "$BIN" export "$1" "$2" -o cache_dir=none >/dev/null 2>&1; }
status() { cat "$1/.cellucidfs/status.json"; }
same_tree() { diff -r "$1" "$2" >/dev/null; }
# switched WHAT MNT CELLS SOURCE EXPORT: MNT shows CELLS cells within 20 s,
# then every file of it equals EXPORT, made now from SOURCE.
switched() {
	local start=$SECONDS
	if wait_until 20 has_cells "$2" "$3"; then
		ok "$1: dataset_identity.json has the $3 cells within $((SECONDS - start)) s"
	else
		fail "$1: still $(n_cells "$2") cells after 20 s"
	fi
	export_of "$4" "$5"
	check "$1: every file equals the export of the new file" same_tree "$2" "$5"
}

# --- a single file: in place, then renamed over -------------------------------
mkdir -p "$T/src"
cp "$PBMC" "$T/src/data.h5ad"
refused "settle=0 is refused" "bad value '0' for settle" "$T/src/data.h5ad" "$T/mnt" -o settle=0
refused "watch=maybe is refused" "bad value 'maybe' for watch (yes or no)" "$T/src/data.h5ad" "$T/mnt" \
	-o watch=maybe
if mount_fs "$T/src/data.h5ad" "$T/mnt"; then
	export_of "$T/src/data.h5ad" "$T/exp0"
	check "before any change, the mount equals the export" same_tree "$T/mnt" "$T/exp0"
	id0=$(status "$T/mnt" | grep -o '"source_identity":[^,]*')
	exec 3<"$T/mnt/obs_manifest.json"
	created0=$(created_at "$T/mnt")

	if write_h5ad "$T/src/data.h5ad" "$T/src/data.h5ad" \
		"a[:500].copy(); b.obs['newcol'] = np.arange(500, dtype='float32')"; then
		ok "anndata's write_h5ad onto the mounted file succeeds"
	else
		fail "anndata's write_h5ad onto the mounted file fails"
	fi
	switched "in-place rewrite" "$T/mnt" 500 "$T/src/data.h5ad" "$T/exp1"
	check "in-place rewrite: dataset_identity.json has the new file's created_at" test \
		"$(created_at "$T/mnt")" != "$created0" -a \
		"$(created_at "$T/mnt")" = "$(date -u -d "@$(stat -c %Y "$T/src/data.h5ad")" +%Y-%m-%dT%H:%M:%SZ)"
	check "in-place rewrite: the new obs column is listed" grep -q "\"newcol\"" "$T/mnt/obs_manifest.json"
	check "in-place rewrite: files have the new file's mtime" test \
		"$(stat -c %Y "$T/mnt/var_manifest.json")" = "$(stat -c %Y "$T/src/data.h5ad")"
	check "the switch is logged with the new shape" \
		grep -q "data.h5ad changed: now 500 cells, 765 genes" "$MOUNT_LOG"
	st=$(status "$T/mnt")
	check "status.json counts 1 switch" grep -q '"switches":[[:space:]]*1,' <<<"$st"
	id1=$(grep -o '"source_identity":[^,]*' <<<"$st")
	check "status.json has a new source identity, without a path" \
		test -n "$id1" -a "$id1" != "$id0" -a "${id1//\//}" = "$id1"
	check "a file opened before the switch reads the old bytes" \
		cmp -s /dev/fd/3 "$T/exp0/obs_manifest.json"
	exec 3<&-

	write_h5ad "$T/src/data.h5ad" "$T/src/.new.h5ad" \
		"a[100:].copy(); b.obs['other'] = (np.arange(400) % 3).astype(str)"
	mv "$T/src/.new.h5ad" "$T/src/data.h5ad"
	switched "rename over the file" "$T/mnt" 400 "$T/src/data.h5ad" "$T/exp2"
	check "status.json counts 2 switches" grep -q '"switches":[[:space:]]*2,' <<<"$(status "$T/mnt")"
	stores() { test "$(ls "$XDG_CACHE_HOME/cellucidfs" | wc -l)" = "$1"; }
	check "the replaced versions' stores are deleted once unused" wait_until 20 stores 1

	cp "$T/src/data.h5ad" "$T/src/.broken.h5ad"
	truncate -s 4096 "$T/src/.broken.h5ad"
	mv "$T/src/.broken.h5ad" "$T/src/data.h5ad"
	check "a replacement that is not usable AnnData is reported" \
		wait_until 10 grep -q "data.h5ad changed, but is not usable" "$MOUNT_LOG"
	check "...and the version before is still served whole" same_tree "$T/mnt" "$T/exp2"
	unmount_fs "$T/mnt"; rc=$?
	check "the daemon exits 0 on unmount after switching (status $rc)" test "$rc" -eq 0
else
	fail "mount a copy of pbmc68k_reduced.h5ad"
fi

# --- watch=no: the old version, or EIO ----------------------------------------
mkdir -p "$T/nowatch"
cp "$PBMC" "$T/nowatch/data.h5ad"
if mount_fs "$T/nowatch/data.h5ad" "$T/mnt2" -o watch=no,prefetch=none; then
	before=$(cat "$T/mnt2/obs_manifest.json")
	write_h5ad "$T/nowatch/data.h5ad" "$T/nowatch/data.h5ad" "a[:300].copy()"
	sleep 2.5
	check "watch=no: what was generated is still served" \
		test "$(cat "$T/mnt2/obs_manifest.json")" = "$before"
	check "watch=no: a file that needs the rewritten source fails with EIO" \
		bash -c "! cat '$T/mnt2/var/$(ls "$T/exp0/var" | head -1)' >/dev/null 2>&1"
	check "watch=no: the log says the source changed while mounted" \
		grep -q "data.h5ad changed while mounted" "$MOUNT_LOG"
	unmount_fs "$T/mnt2"; rc=$?
	check "watch=no: the daemon exits 0 on unmount (status $rc)" test "$rc" -eq 0
else
	fail "mount with watch=no"
fi

# --- a member of a directory source -------------------------------------------
mkdir -p "$T/dir" "$T/one"
cp "$PBMC" "$T/dir/x.h5ad"
cp "$PBMC" "$T/dir/y.h5ad"
if mount_fs "$T/dir" "$T/mnt3"; then
	cat "$T/mnt3/y/dataset_identity.json" >/dev/null
	write_h5ad "$T/dir/y.h5ad" "$T/dir/.y.h5ad" "a[:250].copy()"
	mv "$T/dir/.y.h5ad" "$T/dir/y.h5ad"
	if wait_until 20 has_cells "$T/mnt3/y" 250; then
		ok "directory source: the rewritten member switches"
	else
		fail "directory source: y still has $(n_cells "$T/mnt3/y") cells after 20 s"
	fi
	cp -p "$T/dir/y.h5ad" "$T/one/y.h5ad"
	export_of "$T/one/y.h5ad" "$T/exp_y"
	check "directory source: the member's files equal the export of the new file" \
		bash -c "diff -r '$T/mnt3/y' '$T/exp_y' -x _cellucid >/dev/null"
	check "directory source: the other member is untouched" test "$(n_cells "$T/mnt3/x")" = 700
	check "directory source: the replaced file is closed once unused" wait_until 20 \
		bash -c "! ls -l /proc/$MOUNT_PID/fd | grep -q 'y.h5ad (deleted)'"
	unmount_fs "$T/mnt3"; rc=$?
	check "directory source: the daemon exits 0 on unmount (status $rc)" test "$rc" -eq 0
else
	fail "mount a directory of two copies"
fi

# --- nginx under load while the source is replaced ----------------------------
if ! command -v nginx >/dev/null; then
	skip "follow the source under nginx load: nginx is not installed"
	finish; exit
fi
mkdir -p "$T/va" "$T/vb" "$T/load"
cp -p "$PBMC" "$T/va/data.h5ad"
write_h5ad "$T/va/data.h5ad" "$T/vb/data.h5ad" "a[:450].copy(); b.obs['extra'] = np.arange(450.0)"
export_of "$T/va/data.h5ad" "$T/exp_a"
export_of "$T/vb/data.h5ad" "$T/exp_b"
cp -p "$T/va/data.h5ad" "$T/load/data.h5ad"
chmod -R a+rX "$T/va" "$T/vb" "$T/load"
# The k-th change: version b, then a, ... renamed over the source.
replace() {
	local v=$([ $(($1 % 2)) -eq 1 ] && echo vb || echo va)
	cp -p "$T/$v/data.h5ad" "$T/load/.next.h5ad" && mv "$T/load/.next.h5ad" "$T/load/data.h5ad"
}
if mount_fs "$T/load/data.h5ad" "$T/mnt4" -o allow_other; then
	if load_while_changing "$T/mnt4" 18180 replace "$T/exp_a" "$T/exp_b"; then
		check "nginx under load: the mount ends on the last version" \
			wait_until 10 same_tree "$T/mnt4" "$T/exp_a"
		switches=$(status "$T/mnt4" | grep -o '"switches":[[:space:]]*[0-9]*' | grep -o '[0-9]*$')
		check "nginx under load: $LOAD_CHANGES switches ($switches)" test "$switches" = $LOAD_CHANGES
	fi
	unmount_fs "$T/mnt4"; rc=$?
	check "under load: the daemon exits 0 on unmount (status $rc)" test "$rc" -eq 0
else
	fail "mount for the load test"
fi
finish
