#!/usr/bin/env bash
# tests/cache.sh - the persistent cache directory: a remount reuses what an
# earlier mount generated, a damaged cached file or gene index is detected and
# rebuilt, and an unusable or full cache directory falls back to memory with a
# warning while every file is still served correctly.
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
if ! have_fuse; then skip "cache tests: no /dev/fuse or fusermount3"; exit 0; fi
if [ ! -f "$PBMC" ]; then skip "cache tests: $FIXTURES absent (../shared not beside the repo)"; exit 0; fi

T=$(mktemp -d)
cleanup() {
	for m in "$T/mnt" "$T/mnt2"; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m"; done
	mountpoint -q "$T/tiny" 2>/dev/null && umount "$T/tiny"
	rm -rf "$T"
}
trap cleanup EXIT
C=$T/cache

# has_index DIR BYTES: a genes.idx of more than BYTES bytes under DIR. The
# daemon merges the gene index into its cache directory once nothing has been
# generated for a moment, so the tests wait for it before unmounting.
has_index() { find "$1" -name genes.idx -size +"$2"c | grep -q .; }

# First mount: everything generated and stored.
mount_fs "$PBMC" "$T/mnt" -o cache_dir="$C",prefetch=none || { fail "mount with cache_dir"; finish; exit; }
cp -r "$T/mnt" "$T/first"
wait_until 30 has_index "$C" 0
unmount_fs "$T/mnt"
S=$C/$(ls "$C")   # this key's store, the only one yet: the damage below goes there
stored=$(( $(stat -c %s "$S/files.idx") / 32 ))   # one 32-byte record per stored file
check "the first mount stores every generated file ($stored)" test "$stored" -ge 780
check "the gene index is stored" test -s "$(find "$C" -name genes.idx | head -1)"
stamp=$(find "$C" -type f -printf '%p %T@\n' | sort | md5sum)

# Second mount with the same key: nothing regenerated, same bytes.
mount_fs "$PBMC" "$T/mnt" -o cache_dir="$C",prefetch=none
cp -r "$T/mnt" "$T/second"
unmount_fs "$T/mnt"
check "a remount serves identical bytes" diff -r "$T/first" "$T/second"
check "a remount regenerates nothing" test "$(find "$C" -type f -printf '%p %T@\n' | sort | md5sum)" = "$stamp"

# Other options are another key: another directory.
mount_fs "$PBMC" "$T/mnt" -o cache_dir="$C",prefetch=none,compression=1
cat "$T/mnt/obs_manifest.json" >/dev/null
unmount_fs "$T/mnt"
check "other byte-changing options use another cache directory" test "$(ls "$C" | wc -l)" -eq 2

# A damaged cached file (one byte of the pack changed) and a truncated index.
printf '\xa5' | dd of="$S/files.pack" bs=1 seek=$(( $(stat -c %s "$S/files.pack") / 2 )) \
	conv=notrunc status=none
idx=$(find "$S" -name genes.idx | head -1)
truncate -s 1000 "$idx"
mount_fs "$PBMC" "$T/mnt" -o cache_dir="$C",prefetch=none
cp -r "$T/mnt" "$T/third"
wait_until 30 has_index "$S" 1000
unmount_fs "$T/mnt"
check "a damaged cached file is regenerated" diff -r "$T/first" "$T/third"
check "the damage is reported" grep -q "is damaged; generating it again" "$MOUNT_LOG"
check "a truncated gene index is rebuilt" test "$(stat -c %s "$idx")" -gt 1000

# A gene index whose pairs were changed: the read fails (EIO), the next mount rebuilds.
size=$(stat -c %s "$idx")
printf '\x7f' | dd of="$idx" bs=1 seek=$((size - 100)) conv=notrunc status=none
rm -f "$S"/files.*   # force gene files to be generated from the index again
mount_fs "$PBMC" "$T/mnt" -o cache_dir="$C",prefetch=none
out=$(cat "$T"/mnt/var/* 2>&1 >/dev/null)
unmount_fs "$T/mnt"
check "a damaged gene in the index fails with EIO" grep -q "Input/output error" <<<"$out"
mount_fs "$PBMC" "$T/mnt" -o cache_dir="$C",prefetch=none
cp -r "$T/mnt" "$T/fourth"
unmount_fs "$T/mnt"
check "the next mount rebuilds the damaged index" diff -r "$T/first" "$T/fourth"

# An unusable cache directory: memory, a warning, correct files.
mount_fs "$PBMC" "$T/mnt" -o cache_dir=/dev/null/cache,prefetch=none
cp -r "$T/mnt" "$T/fifth"
unmount_fs "$T/mnt"
check "an unusable cache_dir still serves every file" diff -r "$T/first" "$T/fifth"
check "an unusable cache_dir is warned about" grep -q "no cache directory" "$MOUNT_LOG"

# Two daemons on one key: the second keeps its files in memory, both serve.
mount_fs "$PBMC" "$T/mnt" -o cache_dir="$C",prefetch=none
first_pid=$MOUNT_PID
mount_fs "$PBMC" "$T/mnt2" -o cache_dir="$C",prefetch=none
check "a second daemon on the same cache directory serves every file" diff -r "$T/first" "$T/mnt2"
check "it says the store is in use" grep -q "in use by another cellucidfs" "$MOUNT_LOG"
unmount_fs "$T/mnt2"
MOUNT_PID=$first_pid
unmount_fs "$T/mnt"

# A cache directory that fills up: memory from then on, a warning, correct files.
mkdir -p "$T/tiny"
if mount -t tmpfs -o size=200k tmpfs "$T/tiny" 2>/dev/null; then
	mount_fs "$PBMC" "$T/mnt" -o cache_dir="$T/tiny",prefetch=none
	cp -r "$T/mnt" "$T/sixth" 2>/dev/null
	unmount_fs "$T/mnt"
	check "a full cache_dir still serves every file" diff -r "$T/first" "$T/sixth"
	check "a full cache_dir is warned about" grep -q "No space left on device" "$MOUNT_LOG"
else
	skip "full cache directory: cannot mount a small tmpfs here"
fi
finish
