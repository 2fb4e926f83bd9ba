#!/usr/bin/env bash
# tests/deb.sh - the Debian package on a fresh machine. make deb builds
# cellucidfs_VERSION_ARCH.deb (lintian-clean, or it fails), mmdebstrap makes a
# fresh minimal Debian 12 root (minbase) from this machine's package sources,
# and tests/deb_root.sh checks the package in it, in mount and PID namespaces
# of its own (nginx in a network namespace too): apt-get install
# ./cellucidfs_*.deb, --version, an fstab line mounting pbmc68k_reduced, nginx
# serving it through the shipped block, apt-get purge. Everything lives in one
# temporary directory, removed at the end; nothing is cached between runs.
#
#   $ sudo bash tests/deb.sh
#   ok make deb: cellucidfs_0.1.0_amd64.deb, lintian --fail-on error,warning passed
#   ok mmdebstrap: a fresh bookworm minbase root
#   ok apt-get install ./cellucidfs_0.1.0_amd64.deb: exit status 0
#   ...
#   deb.sh: 232 s (make deb 71 s, mmdebstrap 115 s, in the root 27 s, removing it 19 s)
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad

# Build-Depends keeps up with the Makefile: the package of each pkg-config
# module the Makefile builds with (PKGS) is in debian/control.
build_depends=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$ROOT/debian/control" | sed '$d' |
	sed 's/^Build-Depends://; s/([^)]*)//g; s/,/\n/g' | tr -d ' ')
unlisted=$(for m in $(sed -n 's/^PKGS *:= *//p' "$ROOT/Makefile"); do
	pkg=$(dpkg-query -S "$(readlink -f "$(pkg-config --path "$m")")" 2>/dev/null | head -1 | cut -d: -f1)
	grep -qxF -- "${pkg:-?}" <<<"$build_depends" || echo "$m (${pkg:-no package})"
done)
check "debian/control's Build-Depends has the package of every module in the Makefile's PKGS${unlisted:+; not: $unlisted}" \
	test -z "$unlisted"

if [ "$(id -u)" -ne 0 ]; then skip "Debian package: needs root (mmdebstrap, chroot, mount)"; exit 0; fi
for c in dpkg-buildpackage lintian mmdebstrap unshare nsenter ip curl objdump; do
	if ! command -v "$c" >/dev/null; then skip "Debian package: $c is not installed"; exit 0; fi
done
if [ ! -c /dev/fuse ]; then skip "Debian package: no /dev/fuse"; exit 0; fi
if [ ! -f "$PBMC" ]; then skip "Debian package: $FIXTURES absent (../shared not beside the repo)"; exit 0; fi

VERSION=$(cat "$ROOT/VERSION")
DEB=cellucidfs_${VERSION}_$(dpkg --print-architecture).deb
T=$(mktemp -d)
R=$T/root
# The root's mounts live in deb_root.sh's namespace and end with it;
# --one-file-system keeps rm out of anything still mounted all the same.
trap 'rm -rf --one-file-system "$T"' EXIT

t0=$SECONDS
out=$(make -s -C "$ROOT" deb DEBDIR="$T" 2>&1)
if [ $? -eq 0 ] && [ -f "$T/$DEB" ]; then
	ok "make deb: $DEB, lintian --fail-on error,warning passed"
else
	fail "make deb: $(tail -20 <<<"$out")"
	exit 1
fi
grep '^[EWI]: ' <<<"$out" | sed 's/^/    lintian: /'
check "the package's version is VERSION ($VERSION)" test "$(dpkg-deb -f "$T/$DEB" Version)" = "$VERSION"
t1=$SECONDS

# This machine's sources, and the apt settings that say how it reaches them
# (proxies, validity checks, index targets).
sources=() aptopts=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && sources+=("$f")
done
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
	[ -f "$f" ] && grep -q '^[[:space:]]*Acquire' "$f" && aptopts+=("--aptopt=$f")
done
# The package lists stay: apt-get install in the root needs them.
out=$(mmdebstrap --variant=minbase --skip=cleanup/apt/lists --quiet "${aptopts[@]}" \
	bookworm "$R" "${sources[@]}" 2>&1)
if [ $? -ne 0 ]; then
	if grep -qiE 'failed to fetch|temporary failure resolving|could not resolve|could not connect|unable to connect|network is unreachable' <<<"$out"; then
		skip "Debian package: mmdebstrap cannot reach the package sources: $(grep -iE -m1 'fail|could not|unable|unreachable' <<<"$out")"
		exit 0
	fi
	fail "mmdebstrap: $(tail -10 <<<"$out")"
	exit 1
fi
ok "mmdebstrap: a fresh bookworm minbase root"
t2=$SECONDS

# What deb_root.sh mounts onto, the package, and no service started by a
# package's maintainer scripts (the root has no init).
mkdir -p "$R/data" "$R/srv/cellucid" "$R/srv/cellucid2"
touch "$R/dev/fuse" "$R/data/pbmc68k_reduced.h5ad"
cp "$T/$DEB" "$R/tmp/"
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"

unshare --mount --pid --fork --mount-proc \
	bash "$ROOT/tests/deb_root.sh" "$R" "$PBMC" "$DEB" "$VERSION" | tee "$T/root.log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
	grep -q '^FAIL ' "$T/root.log" || fail "tests/deb_root.sh exited with status $status"
	failures=$((failures + 1))
fi
t3=$SECONDS
rm -rf --one-file-system "$T"
echo "deb.sh: $((SECONDS - t0)) s (make deb $((t1 - t0)) s, mmdebstrap $((t2 - t1)) s," \
	"in the root $((t3 - t2)) s, removing it $((SECONDS - t3)) s)"
finish
