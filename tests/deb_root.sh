#!/usr/bin/env bash
# tests/deb_root.sh - the package in a fresh Debian 12 root, run by
# tests/deb.sh as PID 1 of new mount and PID namespaces (unshare --mount
# --pid --fork --mount-proc): every mount made here and every process started
# here vanish with it. nginx and curl run in a network namespace of their own
# (the shipped block listens on 127.0.0.1:8080, which may be taken outside),
# while apt reaches the package sources. In the root R: apt-get install
# ./DEB pulls every dependency, the files are where they belong, an fstab line
# of type cellucidfs mounts pbmc68k_reduced (bound read-only into the root)
# at /srv/cellucid with /var/cache/cellucidfs as cache, mount -t cellucidfs
# works, nginx serves the mount through the shipped block, and apt-get purge
# leaves nothing of the package behind.
#
#   bash tests/deb_root.sh ROOT FIXTURE DEB VERSION
source "$(dirname "$0")/lib.sh"
R=$1 PBMC=$2 DEB=$3 VERSION=$4
MNT=/srv/cellucid
NETNS=$(dirname "$R")/netns   # bound to the network namespace, in this mount namespace

in_net() { nsenter --net="$NETNS" "$@"; }
in_root() { # in_root command...: run in the root, with a clean environment, for 300 s at most
	timeout 300 chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C \
		DEBIAN_FRONTEND=noninteractive "$@"
}
daemons() { # the cellucidfs daemons running (in this PID namespace)
	grep -lx cellucidfs /proc/[0-9]*/comm 2>/dev/null | wc -l
}
cleanup() {
	local m
	[ -f "$R/run/nginx.pid" ] && in_net chroot "$R" nginx -s quit 2>/dev/null
	for m in "$R$MNT" "$R${MNT}2"; do mountpoint -q "$m" && umount "$m"; done
	for m in "$R/data/pbmc68k_reduced.h5ad" "$R/dev/fuse" "$R/proc" "$NETNS"; do umount "$m" 2>/dev/null; done
}
trap cleanup EXIT

mount -t proc proc "$R/proc" && mount --bind /dev/fuse "$R/dev/fuse" &&
	mount --bind -o ro "$PBMC" "$R/data/pbmc68k_reduced.h5ad" &&
	touch "$NETNS" && unshare --net="$NETNS" ip link set lo up ||
	{ fail "setting up the root (proc, /dev/fuse, the fixture, a network namespace)"; exit 1; }

# --- install: apt resolves every dependency from the sources
depends=$(dpkg-deb -f "$R/tmp/$DEB" Depends | sed 's/([^)]*)//g; s/|[^,]*//g; s/ //g; s/,/ /g')
absent=$(for p in $depends; do in_root dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	grep -q "install ok installed" || echo "$p"; done)
out=$(in_root sh -c "cd /tmp && apt-get install -y ./$DEB" 2>&1)
if [ $? -ne 0 ]; then fail "apt-get install ./$DEB: $(tail -10 <<<"$out")"; exit 1; fi
ok "apt-get install ./$DEB: exit status 0"
missing=$(for p in $depends; do in_root dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	grep -q "install ok installed" || echo "$p"; done)
check "apt-get pulled every Depends (absent before: $(echo $absent))" test -z "$missing" -a -n "$absent"
check "dpkg: cellucidfs $VERSION installed, nothing half-configured" test \
	"$(in_root dpkg-query -W -f='${Status} ${Version}' cellucidfs)" = "install ok installed $VERSION" -a \
	-z "$(in_root dpkg --audit)"
# Depends comes from the shared libraries: each one the binary links holds
# a package named there, and every library (and theirs) resolves.
unlisted=$(for so in $(objdump -p "$R/usr/bin/cellucidfs" | awk '$1 == "NEEDED" { print $2 }'); do
	pkg=$(in_root dpkg-query -S "*/$so" 2>/dev/null | head -1 | cut -d: -f1)
	tr ' ' '\n' <<<"$depends" | grep -qxF -- "${pkg:-?}" || echo "$so (${pkg:-no package})"
done)
check "Depends names the package of every library the binary links${unlisted:+: not $unlisted}" test -z "$unlisted"
out=$(in_root ldd /usr/bin/cellucidfs 2>&1)
check "ldd: every library resolves" test -n "$out" -a -z "$(grep 'not found' <<<"$out")"

out=$(in_root cellucidfs --version 2>&1)
check "cellucidfs --version: $out" grep -q "^cellucidfs $VERSION (libfuse 3" <<<"$out"
check "the man page's .TH names cellucidfs $VERSION" \
	bash -c "zcat '$R/usr/share/man/man1/cellucidfs.1.gz' | grep '^\.TH' | grep -qF '\"cellucidfs $VERSION\"'"

installed=$(in_root dpkg-query -L cellucidfs)
dirs=$(while read -r f; do [ -d "$R$f" ] && echo "$f"; done <<<"$installed")
absent=$(for f in /usr/bin/cellucidfs /sbin/mount.cellucidfs /usr/share/man/man1/cellucidfs.1.gz \
	/usr/share/man/man8/mount.cellucidfs.8.gz /lib/systemd/system/cellucidfs.service \
	/lib/systemd/system/cellucidfs@.service /usr/share/cellucidfs/nginx/cellucid.conf \
	/usr/share/cellucidfs/preview/index.html /usr/share/doc/cellucidfs/copyright; do
	grep -qxF "$f" <<<"$installed" && [ -e "$R$f" ] || echo "$f"
done)
check "installed: binary, mount.cellucidfs, man pages, units, nginx block, preview page${absent:+; missing: $absent}" \
	test -z "$absent"
check "the units run the installed binary" \
	test "$(grep -h '^ExecStart=' "$R"/lib/systemd/system/cellucidfs*.service | cut -d' ' -f1 | sort -u)" = \
	"ExecStart=/usr/bin/cellucidfs"
check "the units are not enabled" test -z "$(find "$R/etc/systemd" -lname '*cellucidfs*' 2>/dev/null)"
user=$(in_root getent passwd cellucidfs)
uid=$(cut -d: -f3 <<<"$user")
check "postinst made the system user cellucidfs: $user" test -n "$uid" -a "${uid:-1000}" -lt 1000
check "/var/cache/cellucidfs: owned by cellucidfs, mode 750" \
	test "$(in_root stat -c '%U:%G %a' /var/cache/cellucidfs)" = "cellucidfs:cellucidfs 750"

# --- an fstab line of type cellucidfs, mounted by mount -a
echo "/data/pbmc68k_reduced.h5ad $MNT cellucidfs ro,allow_other,default_permissions,nofail,cache_dir=/var/cache/cellucidfs 0 0" \
	>>"$R/etc/fstab"
out=$(in_root mount -a 2>&1)
if [ $? -eq 0 ] && mountpoint -q "$R$MNT"; then
	ok "fstab line of type cellucidfs: mount -a mounts $MNT"
	check "the mount table: /data/pbmc68k_reduced.h5ad, type fuse.cellucidfs" test \
		"$(in_root findmnt -n -o SOURCE,FSTYPE --mountpoint $MNT)" = "/data/pbmc68k_reduced.h5ad fuse.cellucidfs"
	check "the tree (layout=index, the default): 787 files" test "$(find "$R$MNT" -type f | wc -l)" -eq 787
	if [ -d "$REFERENCE/pbmc68k_reduced-c6-q8" ]; then
		check "a file equals the reference's" cmp -s <(gunzip -c "$R$MNT/obs/7.codes.u8.gz") \
			<(gunzip -c "$REFERENCE/pbmc68k_reduced-c6-q8/obs/louvain.codes.u8.gz")
	fi
	out=$(in_root mount -a -v 2>&1)
	check "mount -a again: already mounted" grep -q "already mounted" <<<"$out"
	check "the cache is /var/cache/cellucidfs" test -n "$(find "$R/var/cache/cellucidfs" -type f | head -1)"
else
	fail "fstab line of type cellucidfs: $out"
fi

# --- mount -t cellucidfs, as on the command line
out=$(in_root mount -t cellucidfs /data/pbmc68k_reduced.h5ad ${MNT}2 -o ro,cache_dir=none,prefetch=none 2>&1)
if [ $? -eq 0 ] && mountpoint -q "$R${MNT}2"; then
	ok "mount -t cellucidfs: exit status 0, mounted"
	check "mount -t cellucidfs: the same tree" cmp -s "$R$MNT/obs_manifest.json" "$R${MNT}2/obs_manifest.json"
	check "mount -t cellucidfs: umount" umount "$R${MNT}2"
else
	fail "mount -t cellucidfs: $out"
fi

# --- nginx, with the shipped block included by one line
out=$(in_root apt-get install -y --no-install-recommends nginx-light 2>&1) ||
	fail "apt-get install nginx-light: $(tail -5 <<<"$out")"
echo "include /usr/share/cellucidfs/nginx/cellucid.conf;" >"$R/etc/nginx/sites-enabled/cellucid-site"
out=$(in_net chroot "$R" nginx 2>&1)
if [ $? -eq 0 ] && wait_until 10 in_net curl -s -o /dev/null http://127.0.0.1:8080/; then
	ok "nginx starts with the one-line include"
	URL=http://127.0.0.1:8080
	health=$(in_net curl -s -D "$R/tmp/headers" $URL/_cellucid/health)
	check "_cellucid/health: ok, version $VERSION ($health)" \
		grep -qF "{\"status\":\"ok\",\"type\":\"exported\",\"version\":\"$VERSION\"}" <<<"$health"
	check "_cellucid/health: Content-Type: application/json" \
		bash -c "tr -d '\r' <'$R/tmp/headers' | grep -qix 'content-type: application/json'"
	check "a payload over HTTP equals the mount's" \
		cmp -s <(in_net curl -s $URL/obs/7.codes.u8.gz) "$R$MNT/obs/7.codes.u8.gz"
	gene=$(cd "$R$MNT/var" && ls | head -1)
	check "a gene over HTTP (var/$gene) equals the mount's" cmp -s <(in_net curl -s "$URL/var/$gene") "$R$MNT/var/$gene"
	check "the preview page over HTTP equals the installed one" \
		cmp -s <(in_net curl -s $URL/_preview/index.html) "$R/usr/share/cellucidfs/preview/index.html"
	in_net chroot "$R" nginx -s quit 2>/dev/null
	wait_until 10 test ! -f "$R/run/nginx.pid" || fail "nginx -s quit: nginx still runs"
else
	fail "nginx with the one-line include: $out"
fi
rm -f "$R/etc/nginx/sites-enabled/cellucid-site"

check "umount $MNT" in_root umount $MNT
no_daemons() { [ "$(daemons)" -eq 0 ]; }   # counted anew at every try
if wait_until 20 no_daemons; then ok "the daemons exit after umount"
else
	fail "the daemons exit after umount: $(daemons) left"
	for p in $(grep -lx cellucidfs /proc/[0-9]*/comm 2>/dev/null | cut -d/ -f3); do
		echo "    $p: $(tr '\0' ' ' </proc/$p/cmdline) wchan=$(cat /proc/$p/wchan) $(grep -E '^(State|PPid)' /proc/$p/status | tr '\n\t' '  ')"
	done
fi

# --- purge: nothing of the package is left
if out=$(in_root apt-get purge -y cellucidfs 2>&1); then ok "apt-get purge cellucidfs: exit status 0"
else fail "apt-get purge cellucidfs: $(tail -5 <<<"$out")"; fi
# Status-Abbrev: "pn " (purged, not installed), or no record at all.
status=$(in_root dpkg-query -W -f='${db:Status-Abbrev}' cellucidfs 2>/dev/null)
check "dpkg: cellucidfs is not installed, no conffiles left (${status:-no record})" \
	test -z "$status" -o "${status:1:1}" = n
# A directory of the package may stay when another package owns it, or
# holds something else; an empty one nobody owns is a leftover.
left=$(while read -r f; do
	if [ -n "$f" ] && grep -qxF -- "$f" <<<"$dirs"; then
		[ -d "$R$f" ] && [ ! -L "$R$f" ] && [ -z "$(ls -A "$R$f")" ] &&
			! in_root dpkg-query -S "$f" >/dev/null 2>&1 && echo "$f"
	elif [ -e "$R$f" ] || [ -L "$R$f" ]; then echo "$f"; fi
done <<<"$installed")
check "every file dpkg -L listed is gone, and every directory only the package had" test -z "$left"
[ -z "$left" ] || echo "$left" | head -5 | sed 's/^/    left: /'
check "the user and the group cellucidfs are gone" \
	test -z "$(in_root getent passwd cellucidfs)$(in_root getent group cellucidfs)"
check "/var/cache/cellucidfs is gone" test ! -e "$R/var/cache/cellucidfs"
left=$(find "$R" -xdev -name '*cellucidfs*' ! -path "$R/tmp/$DEB" | sed "s#^$R##")
check "no file named after the package is left in the root" test -z "$left"
[ -z "$left" ] || echo "$left" | head -5 | sed 's/^/    left: /'
finish
