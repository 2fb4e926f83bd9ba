#!/bin/sh
# Install every Debian 12 package cellucidfs needs to build, test and demo.
# Idempotent: packages already present are not touched, and apt-get update
# runs only when something is missing.
set -eu

PKGS="build-essential pkg-config fuse3 libfuse3-dev libhdf5-dev hdf5-tools \
libcjson-dev libdeflate-dev liblzf-dev zlib1g-dev nginx-light curl ca-certificates \
python3 python3-numpy python3-h5py python3-anndata chromium wrk"

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
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "cellucidfs: installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
