#!/usr/bin/env bash
# tests/large.sh - a generated 100 000-cell dataset (scripts/gen-h5ad/, CSR X):
# mounts with the default options (layout=index), every file passes the strict
# viewer's rules (tests/strict_check.py: decoded lengths, values, agreement),
# cp -r is reproducible, and nginx serves the mount intact.
source "$(dirname "$0")/lib.sh"

if ! have_fuse; then skip "large dataset: no /dev/fuse or fusermount3"; exit 0; fi
GEN=$ROOT/build/gen-h5ad
DATA=$ROOT/build/data/gen-100k.h5ad
mkdir -p "$(dirname "$DATA")"
if [ ! -f "$DATA" ]; then
	"$GEN" --cells 100000 --genes 2000 --per-cell 150 --seed 7 "$DATA.tmp" && mv "$DATA.tmp" "$DATA"
fi
check "generate a 100 000-cell dataset" test -f "$DATA"

T=$(mktemp -d)
export XDG_CACHE_HOME=$T/cache   # a fresh persistent cache, removed with $T
cleanup() {
	mountpoint -q "$T/mnt" 2>/dev/null && fusermount3 -u "$T/mnt"
	rm -rf "$T"
}
trap cleanup EXIT

chmod 755 "$T"
if mount_fs "$DATA" "$T/mnt" -o allow_other,default_permissions; then
	$PY tests/strict_check.py "$T/mnt" gen-100k || failures=$((failures + 1))
	cp -r "$T/mnt" "$T/copy1" && cp -r "$T/mnt" "$T/copy2"
	check "gen-100k: cp -r twice gives identical trees" diff -r "$T/copy1" "$T/copy2"
	rm -rf "$T/copy1" "$T/copy2"
	bash tests/nginx.sh "$T/mnt" || true   # the first free port from 18080
	bash tests/browser.sh "$T/mnt" 18091 || true
	unmount_fs "$T/mnt"; check "gen-100k: unmount ends the daemon with status 0" test $? -eq 0
else
	fail "mount the generated 100 000-cell dataset"
fi
finish
