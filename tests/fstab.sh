#!/usr/bin/env bash
# tests/fstab.sh - cellucidfs under mount(8): "mount -t fuse.cellucidfs" and
# fstab lines (through mount -T, an alternative fstab), with the options
# mount(8), mount.fuse3 and systemd put there; mount -a seeing that a line is
# already mounted; refusals; umount ending the daemon. Then the systemd unit
# examples through systemd-analyze verify, when it is installed.
#
# mount(8) runs the helper mount.fuse3 with an empty environment, and
# mount.fuse3 runs "cellucidfs SOURCE MOUNTPOINT -o OPTIONS" through /bin/sh,
# which then searches its default path: /usr/local/sbin first. The test puts
# a link to the binary under test there (root only) and removes it on exit.
#
#   $ sudo bash tests/fstab.sh
#   ok mount -t fuse.cellucidfs: exit status 0
#   ...
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
LINK=/usr/local/sbin/cellucidfs
TARGET=$(readlink -f "$BIN")

units() { # the systemd examples: no complaint from systemd-analyze verify
	if ! command -v systemd-analyze >/dev/null; then
		skip "systemd units: systemd-analyze is not installed"
		return
	fi
	local d=$T/units
	mkdir -p "$d"
	# verify wants ExecStart's binary to exist; the template, an instance.
	sed "s#/usr/local/bin/cellucidfs#$TARGET#" "$ROOT/scripts/cellucidfs.service" >"$d/cellucidfs.service"
	sed "s#/usr/local/bin/cellucidfs#$TARGET#" "$ROOT/scripts/cellucidfs@.service" >"$d/cellucidfs@srv-cell.service"
	local out
	out=$(cd "$d" && systemd-analyze verify --man=no ./cellucidfs.service ./cellucidfs@srv-cell.service 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then ok "systemd units: systemd-analyze verify is silent"
	else fail "systemd units: $out"; fi
}

T=$(mktemp -d)
# mount(8) passes the environment on to the daemon: a line without cache_dir
# uses $XDG_CACHE_HOME/cellucidfs, which must be the test's, not ~/.cache.
export XDG_CACHE_HOME=$T/cache
made_link=0
cleanup() {
	for m in "$T"/mnt*; do
		while mountpoint -q "$m" 2>/dev/null; do umount "$m" || umount -l "$m" || break; done
	done
	if [ "$made_link" = 1 ] && [ "$(readlink "$LINK")" = "$TARGET" ]; then rm -f "$LINK"; fi
	rm -rf "$T"
}
trap cleanup EXIT

units
if ! have_fuse; then skip "mount(8) tests: no /dev/fuse or fusermount3"; exit 0; fi
if [ ! -f "$PBMC" ]; then skip "mount(8) tests: $FIXTURES absent (../shared not beside the repo)"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then skip "mount(8) tests: need root (mount(8), $LINK)"; exit 0; fi
if ! command -v mount.fuse3 >/dev/null; then skip "mount(8) tests: no mount.fuse3"; exit 0; fi
if [ -e "$LINK" ] || [ -L "$LINK" ]; then
	if [ "$(readlink -f "$LINK")" != "$TARGET" ]; then
		skip "mount(8) tests: $LINK exists and is not $TARGET"; exit 0
	fi
else
	ln -s "$TARGET" "$LINK" && made_link=1
fi

REAL=$(readlink -f "$PBMC")
mkdir -p "$T/mnt" "$T/mnt2"
daemon_gone() { # the daemon serving $T/mnt exits within 10 s
	local i
	for i in $(seq 1 100); do pgrep -f -- "$T/mnt( |$)" >/dev/null || return 0; sleep 0.1; done
	return 1
}
served() { # served "what": the tree of pbmc68k_reduced (layout=index) is there and right
	check "$1: 787 files" test "$(find "$T/mnt" -type f | wc -l)" -eq 787
	if [ -d "$REFERENCE/pbmc68k_reduced-c6-q8" ]; then   # louvain, the 8th obs column
		check "$1: a file equals the reference's" cmp -s <(gunzip -c "$T/mnt/obs/7.codes.u8.gz") \
			<(gunzip -c "$REFERENCE/pbmc68k_reduced-c6-q8/obs/louvain.codes.u8.gz")
	fi
}
mounted() { # mounted "what" "options regex": one mount at $T/mnt, of the source, with these options
	local line
	line=$(findmnt -rn -o SOURCE,FSTYPE,OPTIONS --mountpoint "$T/mnt")
	check "$1: one mount, of $REAL, type fuse.cellucidfs" test "$(wc -l <<<"$line")" -eq 1 -a \
		"${line% *}" = "$(sed 's/ /\\x20/g' <<<"$REAL") fuse.cellucidfs"
	check "$1: options ${2//\\/}" grep -qE -- " $2" <<<"$line"
}
mount8() { # mount8 "what" mount-args...: mount(8) succeeds, and the mount is up when it returns
	local out
	out=$(timeout 120 mount "${@:2}" 2>&1)
	if [ $? -eq 0 ] && mountpoint -q "$T/mnt"; then ok "$1: exit status 0, mounted"
	else fail "$1: $out"; return 1; fi
}
umount8() { # umount8 "what": umount(8) unmounts and the daemon exits
	# Retried while busy: served's gunzip processes may still be closing their files.
	check "$1: umount" wait_until 5 umount "$T/mnt"
	check "$1: the daemon exits after umount" daemon_gone
}

# --- mount -t, as the issue has it
what="mount -t fuse.cellucidfs -o ro,allow_other"
if mount8 "$what" -t fuse.cellucidfs "$PBMC" "$T/mnt" -o "ro,allow_other,cache_dir=$T/cache"; then
	mounted "$what" "ro,.*allow_other"
	check "$what: the daemon runs detached" pgrep -f -- "$T/mnt( |$)"
	served "$what"
	umount8 "$what"
fi

# --- no ro: mount(8) passes rw, the mount is read-only all the same
what="mount -t fuse.cellucidfs (rw)"
if mount8 "$what" -t fuse.cellucidfs "$PBMC" "$T/mnt" -o "cache_dir=none,prefetch=none"; then
	mounted "$what" "ro,"
	out=$(touch "$T/mnt/x" 2>&1); check "$what: writing fails with EROFS" grep -q "Read-only file system" <<<"$out"
	umount8 "$what"
fi

# --- an fstab line with everything mount(8), mount.fuse3 and systemd strip
# or pass (noauto: mounted by name only), and VFS flags libfuse does not know
cat >"$T/fstab" <<EOF
# cellucidfs test fstab
$REAL $T/mnt fuse.cellucidfs defaults,noauto,nofail,_netdev,user,x-systemd.automount,x-systemd.idle-timeout=60,x-systemd.mount-timeout=30,comment=x-gvfs-hide,noatime,lazytime,nodiratime,nosymfollow,exec,allow_other,cache_dir=$T/cache,prefetch=none 0 0
EOF
what="fstab line with noauto, nofail, x-systemd.*, noatime, lazytime"
if mount8 "$what" -T "$T/fstab" "$T/mnt"; then
	mounted "$what" "ro,.*noatime.*allow_other"
	served "$what"
	umount8 "$what"
fi

# --- the issue's fstab line, by mount -a; a second mount -a sees it mounted
cat >"$T/fstab" <<EOF
$REAL $T/mnt fuse.cellucidfs ro,allow_other,nofail 0 0
$REAL $T/mnt2 fuse.cellucidfs ro,noauto 0 0
EOF
what="fstab, mount -a"
if mount8 "$what" -T "$T/fstab" -a; then
	mounted "$what" "ro,.*allow_other"
	check "$what: the noauto line is left alone" bash -c "! mountpoint -q '$T/mnt2'"
	out=$(timeout 120 mount -T "$T/fstab" -a -v 2>&1)
	check "$what: again, the line is already mounted" grep -q "already mounted" <<<"$out"
	mounted "$what again" "ro,"
	umount8 "$what"
fi

# --- a source with a space and a comma: fsname is escaped
mkdir -p "$T/a dir"
cp "$PBMC" "$T/a dir/pbmc,1.h5ad"
REAL="$T/a dir/pbmc,1.h5ad"
what="mount -t, a source with a space and a comma"
if mount8 "$what" -t fuse.cellucidfs "$REAL" "$T/mnt" -o cache_dir=none,prefetch=none; then
	check "$what: the mount table shows the source" \
		test "$(findmnt -n -o SOURCE --mountpoint "$T/mnt")" = "$REAL"
	umount8 "$what"
fi

# --- refusals reach the terminal through mount(8), and nothing is mounted
refused_by_mount() { # refused_by_mount "what" "message part" mount-args...
	local what=$1 want=$2 out; shift 2
	out=$(timeout 120 mount "$@" 2>&1)
	if [ $? -ne 0 ] && grep -qF -- "$want" <<<"$out" && ! mountpoint -q "$T/mnt"; then ok "$what"
	else fail "$what: $out"; fi
}
echo "not hdf5" >"$T/bogus.h5ad"
refused_by_mount "mount(8) refuses a non-HDF5 file" "cannot open $T/bogus.h5ad: not an HDF5 file" \
	-t fuse.cellucidfs "$T/bogus.h5ad" "$T/mnt"
refused_by_mount "mount(8) refuses a bad value" "bad value '12' for compression" \
	-t fuse.cellucidfs "$PBMC" "$T/mnt" -o compression=12
refused_by_mount "mount(8) refuses a misspelt option" "compresion=6" \
	-t fuse.cellucidfs "$PBMC" "$T/mnt" -o compresion=6
finish
