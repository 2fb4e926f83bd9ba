#!/usr/bin/env bash
# tests/nginx_mount.sh - mount pbmc68k_reduced.h5ad, serve it with nginx and check it
# over HTTP (tests/nginx.sh) and in a browser (tests/browser.sh).
source "$(dirname "$0")/lib.sh"
PBMC=$FIXTURES/pbmc68k_reduced.h5ad
if ! have_fuse; then skip "nginx over a mount: no /dev/fuse"; exit 0; fi
if [ ! -f "$PBMC" ]; then skip "nginx over a mount: $FIXTURES absent"; exit 0; fi
T=$(mktemp -d)
export XDG_CACHE_HOME=$T/cache   # a fresh persistent cache, removed with $T
trap 'mountpoint -q "$T/mnt" && fusermount3 -u "$T/mnt"; rm -rf "$T"' EXIT
chmod 755 "$T"
if mount_fs "$PBMC" "$T/mnt" -o allow_other,default_permissions; then
	bash tests/nginx.sh "$T/mnt" || true   # the first free port from 18080
	bash tests/browser.sh "$T/mnt" 18090 --strict-cases || true
	unmount_fs "$T/mnt"
else
	fail "mount pbmc68k_reduced.h5ad with allow_other"
fi
finish
