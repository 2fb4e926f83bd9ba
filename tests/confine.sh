#!/usr/bin/env bash
# tests/confine.sh - the mounted daemon confines itself (fs/confine.c): an
# .h5ad whose X lives in another file (an HDF5 external link, external
# storage) outside the source serves nothing of that file once confined,
# although unconfined (confine=no, the control) the same mount serves it;
# the daemon says NoNewPrivs and a seccomp filter in /proc, stays up, exits 0
# on unmount, and when it is killed its guard removes the dead mount.
#
#   $ bash tests/confine.sh
#   ok link: unconfined (control), the secret outside the source is served
#   ok link: confined, no file holds a byte of the secret (13 files: 7 EIO)
#   ...
source "$(dirname "$0")/lib.sh"

mount_test_setup "confinement tests"
$PY tests/gen_outside.py "$T/src" "$T/secret"
OPTS=var_quantization=none,compression=0,prefetch=none

# leaks MNT: "SECRET READ EIO" over every file of the mount; SECRET counts the
# files holding the secret (float32 4242.0, or "4242" in a document).
leaks() {
	$PY - "$1" <<'EOF'
import os, struct, sys
secret, read, eio = 0, 0, 0
for d, _, names in os.walk(sys.argv[1]):
    for n in names:
        try:
            data = open(os.path.join(d, n), "rb").read()
        except OSError as e:
            eio += e.errno == 5
            continue
        read += 1
        secret += struct.pack("<f", 4242.0) in data or b"4242" in data
print(secret, read, eio)
EOF
}

for kind in link storage; do
	src=$T/src/$kind.h5ad
	# Each mount its own cache: the control's files must not be served again.
	if mount_fs "$src" "$T/mnt" -o "$OPTS,confine=no,cache_dir=$T/cache-$kind-control"; then
		read -r secret _ _ <<<"$(leaks "$T/mnt")"
		if [ "$secret" -gt 0 ]; then
			ok "$kind: unconfined (control), the secret outside the source is served"
		else
			skip "$kind: control: the secret is not served even unconfined (refused on the HDF5 side)"
		fi
		unmount_fs "$T/mnt"
	else
		skip "$kind: control: the mount is refused (on the HDF5 side)"
	fi
	if mount_fs "$src" "$T/mnt" -o "$OPTS,cache_dir=$T/cache-$kind"; then
		read -r secret nread eio <<<"$(leaks "$T/mnt")"
		check "$kind: confined, no file holds a byte of the secret ($((nread + eio)) files: $eio EIO)" \
			test "$secret" -eq 0 -a "$eio" -gt 0
		out=$(cat "$T/mnt/var/g0.values.f32" 2>&1 >/dev/null)
		check "$kind: a gene file fails with EIO" grep -q "Input/output error" <<<"$out"
		check "$kind: the mount stays up" test -f "$T/mnt/obs_manifest.json"
		unmount_fs "$T/mnt"; check "$kind: fusermount3 -u ends the confined daemon with status 0" test $? -eq 0
	else
		skip "$kind: the confined mount is refused (on the HDF5 side)"
	fi
done

# --- what the kernel says about the daemon, confined and not
PBMC=$FIXTURES/pbmc68k_reduced.h5ad
if mount_fs "$PBMC" "$T/mnt" -o prefetch=none; then
	check "confined: /proc/PID/status has NoNewPrivs 1" grep -qx $'NoNewPrivs:\t1' "/proc/$MOUNT_PID/status"
	check "confined: /proc/PID/status has Seccomp 2 (a filter)" grep -qx $'Seccomp:\t2' "/proc/$MOUNT_PID/status"
	guard=$(pgrep -P "$MOUNT_PID")
	check "one unmount guard beside the daemon" test "$(wc -w <<<"$guard")" -eq 1
	check "the daemon still serves files" test -s "$T/mnt/points_2d.bin.gz"
	# A killed daemon leaves a dead mount (ENOTCONN) behind, unless its guard
	# removes it.
	kill -KILL "$MOUNT_PID"; wait "$MOUNT_PID" 2>/dev/null
	check "killed, the daemon's guard removes its dead mount" wait_until 10 bash -c "! mountpoint -q '$T/mnt'"
	check "and the guard is gone" wait_until 5 bash -c "! kill -0 $guard 2>/dev/null"
else
	fail "mount pbmc68k_reduced.h5ad confined"
fi
if mount_fs "$PBMC" "$T/mnt" -o prefetch=none,confine=no; then
	check "confine=no: no seccomp filter, no guard" \
		bash -c "grep -qx $'Seccomp:\t0' /proc/$MOUNT_PID/status && ! pgrep -P $MOUNT_PID"
	kill -TERM "$MOUNT_PID"; wait_daemon; check "confine=no: SIGTERM ends the daemon with status 0" test $? -eq 0
	check "confine=no: SIGTERM unmounts" bash -c "! mountpoint -q '$T/mnt'"
else
	fail "mount pbmc68k_reduced.h5ad with confine=no"
fi
refused "confine=maybe is refused naming the option" "confine" "$PBMC" "$T/mnt" -o confine=maybe

finish
