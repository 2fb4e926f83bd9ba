#!/usr/bin/env bash
# tests/changed.sh - a source changed in place while mounted never yields
# wrong bytes: each file read after the change is either EIO (with the log
# line "NAME changed while mounted") or byte for byte what the unchanged
# file gives. Three changes, each with watch=no (no switch to the new
# version) on a fresh mount of a fresh copy:
#   - truncate right after mounting (the size moves);
#   - the superblock's end-of-file address rewritten, size kept and the
#     mtime put back with touch -r (only the superblock check sees it);
#   - the signature overwritten, likewise disguised.
#
#   $ bash tests/changed.sh
#   ok superblock rewritten, mtime restored: 9 files EIO, 0 wrong, the rest as before
#   ...
source "$(dirname "$0")/lib.sh"

if ! have_fuse; then skip "changed in place: no /dev/fuse or fusermount3"; exit 0; fi
if ! "$PY" -c 'import h5py' 2>/dev/null; then skip "changed in place: python3-h5py is not installed"; exit 0; fi
T=$(mktemp -d)
export XDG_CACHE_HOME=$T/cache
trap unmount_and_remove_temp EXIT
OPTS=(-o watch=no,prefetch=none,cache_dir=none)
"$PY" tests/gen_outside.py "$T/gen" "$T/gen-secret" >/dev/null
mkdir "$T/ref"
SRC=$T/ref/data.h5ad
mv "$T/gen/plain.h5ad" "$SRC"

# The tree of the unchanged file (the same name: the id is in it), to compare against.
mount_fs "$SRC" "$T/mnt" "${OPTS[@]}" || { fail "changed in place: mount the unchanged file"; exit 1; }
(cd "$T/mnt" && find . -type f | sort >"$T/files" && while read -r p; do
	mkdir -p "$T/want/$(dirname "$p")"; cat "$p" >"$T/want/$p"; done <"$T/files")
unmount_fs "$T/mnt"

# superblock_poke FILE OFFSET HEX: overwrite bytes at the superblock's
# OFFSET, keeping the size and (touch -r) the mtime.
superblock_poke() {
	touch -r "$1" "$T/stamp"
	"$PY" - "$1" "$2" "$3" <<'PY'
import sys
path, off, data = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
with open(path, "r+b") as fh:
    fh.seek(off)
    fh.write(data)
PY
	touch -r "$T/stamp" "$1"
}

# round WHAT COMMAND...: a fresh copy mounted, one file read, COMMAND run on
# the copy, then every file read: EIO or the unchanged bytes.
round() {
	local what=$1 eio=0 wrong=0 same=0 p out; shift
	cp -p "$SRC" "$T/data.h5ad"  # -p: the mtime is created_at
	if ! mount_fs "$T/data.h5ad" "$T/mnt" "${OPTS[@]}"; then fail "$what: mount"; return; fi
	cat "$T/mnt/obs_manifest.json" >/dev/null
	"$@" "$T/data.h5ad"
	while read -r p; do
		if out=$(cat "$T/mnt/$p" 2>&1 >"$T/got"); then
			if cmp -s "$T/got" "$T/want/$p"; then same=$((same + 1)); else wrong=$((wrong + 1)); echo "    wrong bytes: $p"; fi
		elif grep -q "Input/output error" <<<"$out"; then
			eio=$((eio + 1))
		else
			wrong=$((wrong + 1)); echo "    $p: $out"
		fi
	done <"$T/files"
	check "$what: $eio files EIO, $wrong wrong, $same as before" test "$wrong" -eq 0 -a "$eio" -gt 0
	check "$what: the log says data.h5ad changed while mounted" grep -q "data.h5ad changed while mounted" "$MOUNT_LOG"
	check "$what: the mount is still up" mountpoint -q "$T/mnt"
	unmount_fs "$T/mnt"; check "$what: unmount exits 0" test $? -eq 0
}

cut_short() { truncate -s 4096 "$1"; }
# superblock version 0 (h5py's default): the end-of-file address at 40
raise_eof() { superblock_poke "$1" 40 "ffff0f0000000000"; }
no_signature() { superblock_poke "$1" 0 "00"; }
check "the copy has a version 0 superblock" test "$(od -An -tx1 -j8 -N1 "$SRC" | tr -d ' ')" = 00
round "truncated while mounted" cut_short
round "superblock end-of-file rewritten, size and mtime kept" raise_eof
round "superblock signature overwritten, size and mtime kept" no_signature
finish
