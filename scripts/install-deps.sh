#!/bin/sh
# Install every Debian 12 package cellucidfs needs to build, test and demo.
# Idempotent: packages already present are not touched, and apt-get update
# runs only when something is missing. Runs as root, or as a user with sudo.
set -eu

# Build: build-essential pkg-config and the -dev packages (zlib1g-dev: the
# deflate-floor tool and a unit test compare with zlib; libblosc, libzstd,
# liblz4, libbz2: the Zarr back end; libseccomp: the daemon's confinement).
# Tests and demo: fuse3 (fusermount3, mount.fuse3), mount and util-linux
# (mount, umount, findmnt, mountpoint, setpriv, setsid), procps (pgrep),
# nginx-light, curl, openssl (the https port's certificate), ca-certificates
# (the web app's proxy checks www.cellucid.com's certificate), groff-base (the
# man-page check), systemd (systemd-analyze verify of the unit files),
# hdf5-tools, python3 with numpy, h5py, anndata (the oracle) and zarr (the
# Zarr stores of the tests), chromium (the preview page in a headless
# browser), wrk (make bench).
PKGS="make build-essential pkg-config fuse3 libfuse3-dev libhdf5-dev hdf5-tools \
libcjson-dev libdeflate-dev liblzf-dev libseccomp-dev zlib1g-dev libblosc-dev libzstd-dev \
liblz4-dev libbz2-dev mount util-linux procps nginx-light \
curl openssl ca-certificates groff-base systemd python3 python3-numpy python3-h5py \
python3-anndata python3-zarr chromium wrk"

# make deb and tests/deb.sh (a fresh Debian 12 root, nginx in a network namespace).
PKGS="$PKGS debhelper lintian mmdebstrap iproute2"

# make fuzz: libFuzzer and the sanitizers' runtime from Debian's clang.
PKGS="$PKGS clang-14 libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "cellucidfs: packages are missing and there is neither root nor sudo to install them; as root: apt-get update && apt-get install -y$missing" >&2
		exit 1
	fi
	SUDO="sudo"
fi
echo "cellucidfs: installing:$missing"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
