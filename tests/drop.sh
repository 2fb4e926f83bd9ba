#!/usr/bin/env bash
# tests/drop.sh - a directory source that others may write into, tried as an
# attacker would: an unprivileged user plants, in a world-writable drop
# directory served by a root daemon with allow_other, a symbolic link to a
# root-only 0600 .h5ad, a FIFO, a directory named x.h5ad, a file whose id
# would shadow the root's datasets.json, and .h5ad files of their own that
# reach root-only 0600 files (tests/gen_outside.py: X through an external
# link, external storage, a virtual dataset; an obs column in external
# storage). The mount comes up at once, serves only the honest members (and
# the column's file without that column), and that user reading it (directly
# and through nginx, gzip'd payloads opened) sees nothing of the private
# files. follow_symlinks=all (the control) does serve
# it; follow_symlinks=no drops even links inside the directory.
#
#   $ bash tests/drop.sh
#   ok the planted link to a 0600 file outside is skipped with a warning
#   ...
source "$(dirname "$0")/lib.sh"

mount_test_setup "drop directory"
if [ "$(id -u)" -ne 0 ]; then skip "drop directory: needs root (a root daemon, another user)"; exit 0; fi
USER_=cellucidfs-test
if ! id "$USER_" >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_" 2>/dev/null || USER_=nobody
	[ "$USER_" != nobody ] && CREATED=1
fi
cleanup() { unmount_and_remove_temp; [ -n "${CREATED:-}" ] && userdel "$USER_" 2>/dev/null; true; }
trap cleanup EXIT
as_user() { runuser -u "$USER_" -- "$@"; }

chmod 755 "$T"
$PY tests/gen_outside.py "$T/gen" "$T/unused" >/dev/null
mkdir -m 700 "$T/private"
cp "$FIXTURES/pbmc68k_reduced.h5ad" "$T/private/private.h5ad"
chmod 600 "$T/private/private.h5ad"
mkdir -m 1777 "$T/drop"
cp "$T/gen/plain.h5ad" "$T/drop/public.h5ad"
chmod 644 "$T/drop/public.h5ad"

# The attacker's plants.
as_user ln -s "$T/private/private.h5ad" "$T/drop/mine.h5ad"
as_user ln -s ../private/private.h5ad "$T/drop/relative.h5ad"
as_user ln -s public.h5ad "$T/drop/alias.h5ad"
as_user mkfifo "$T/drop/fifo.h5ad"
as_user mkdir "$T/drop/dir.h5ad"
as_user cp "$T/drop/public.h5ad" "$T/drop/datasets.json.h5ad"
for kind in link storage vds column; do
	cp "$T/gen/$kind.h5ad" "$T/drop/$kind.h5ad" && chown "$USER_" "$T/drop/$kind.h5ad"
done
check "the attacker's plants are in place" test -L "$T/drop/mine.h5ad" -a -p "$T/drop/fifo.h5ad"

# grep_secret DIR: the private file's obs columns (bulk_labels, louvain) in
# anything the attacker can read below DIR.
grep_secret() { as_user grep -rlE 'bulk_labels|louvain' "$1" 2>/dev/null; }

# leaks MNT [URL]: "HITS FILES": the files below MNT (or the same paths
# under URL) holding the 0600 secret of tests/gen_outside.py (float32 4242.0,
# or "4242" in a document), gzip'd payloads opened; as the unprivileged user.
leaks() {
	as_user $PY - "$@" <<'EOF'
import gzip, os, struct, sys, urllib.request
root, url = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
hits = files = 0
for d, _, names in os.walk(root):
    for n in names:
        rel = os.path.relpath(os.path.join(d, n), root)
        try:
            data = urllib.request.urlopen(f"{url}/{rel}").read() if url else open(os.path.join(d, n), "rb").read()
        except OSError:
            continue
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        files += 1
        hits += struct.pack("<f", 4242.0) in data or b"4242" in data
print(hits, files)
EOF
}

# through_nginx: the attacker's view over HTTP, with the shipped server block
# (workers as www-data or nobody); skipped without nginx, curl or a free port.
through_nginx() {
	local port pid
	if ! command -v nginx >/dev/null || ! command -v curl >/dev/null; then
		skip "through nginx: nginx or curl is not installed"; return
	fi
	for port in $(seq 18120 18139); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break; done
	mkdir -p "$T/nginx/tmp"
	bash scripts/demo.sh conf "$T/mnt" "$port" "$T/nginx" >"$T/nginx/nginx.conf"
	if ! nginx -p "$T/nginx/" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" 2>/dev/null; then
		skip "through nginx: it does not start on port $port"; return
	fi
	local base=http://127.0.0.1:$port
	out=$(curl -s "$base/datasets.json")
	check "through nginx: datasets.json lists only the honest members" \
		bash -c "grep -q '\"public\"' <<<'$out' && ! grep -qE 'mine|relative|bulk_labels' <<<'$out'"
	check "through nginx: /mine/ and /relative/ are 404" \
		test "$(curl -s -o /dev/null -w '%{http_code}' "$base/mine/obs_manifest.json")/$(curl -s -o /dev/null -w '%{http_code}' "$base/relative/obs_manifest.json")" = 404/404
	read -r hits files <<<"$(leaks "$T/mnt" "$base")"
	check "through nginx: no file holds a byte of the 0600 secrets ($files files)" \
		test "$hits" -eq 0 -a "$files" -gt 10
	pid=$(cat "$T/nginx/nginx.pid")
	nginx -p "$T/nginx/" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" -s stop 2>/dev/null
	wait_until 5 bash -c "! kill -0 $pid 2>/dev/null"
}

if mount_fs "$T/drop" "$T/mnt" -o allow_other; then
	check "only the honest members are served" \
		test "$(ls "$T/mnt" | tr '\n' ' ')" = "_cellucid alias column datasets.json public "
	check "a planted X through an external link is refused, naming it" \
		grep -q "link.h5ad skipped: X: a link to another file (.*): refused" "$MOUNT_LOG"
	check "a planted X in external storage likewise" \
		grep -q "storage.h5ad skipped: X: stored in another file (.*): refused" "$MOUNT_LOG"
	check "a planted X as a virtual dataset likewise" \
		grep -q "vds.h5ad skipped: X: a virtual dataset (mapped from .*): refused" "$MOUNT_LOG"
	check "a planted obs column in external storage is left out, the rest served" \
		bash -c "grep -q \"obs field 'leak' left out: obs/leak: stored in another file\" '$MOUNT_LOG' &&
			test -s '$T/mnt/column/obs_manifest.json'"
	check "the planted link to a 0600 file outside is skipped with a warning" \
		grep -q "mine.h5ad skipped: a symbolic link to outside the directory (follow_symlinks=inside)" "$MOUNT_LOG"
	check "a relative link out of the directory likewise" \
		grep -q "relative.h5ad skipped: a symbolic link to outside" "$MOUNT_LOG"
	check "the FIFO is skipped unopened (the mount came up)" grep -q "fifo.h5ad skipped: not a regular file" "$MOUNT_LOG"
	check "a directory named .h5ad is skipped" grep -q "dir.h5ad skipped: not a regular file" "$MOUNT_LOG"
	check "datasets.json.h5ad cannot shadow the root's datasets.json" \
		grep -q "datasets.json.h5ad skipped: its dataset id 'datasets.json' is a name of the collection's root" "$MOUNT_LOG"
	check "datasets.json is still the catalogue" $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [x["id"] for x in d["datasets"]] == ["alias", "column", "public"], d' "$T/mnt/datasets.json"
	check "the unprivileged user reads the honest members" as_user test -s "$T/mnt/public/obs_manifest.json"
	out=$(grep_secret "$T/mnt")
	check "the unprivileged user finds nothing of the private file in the mount" test -z "$out"
	read -r hits files <<<"$(leaks "$T/mnt")"
	check "the unprivileged user finds no byte of the 0600 secrets in the mount ($files files)" \
		test "$hits" -eq 0 -a "$files" -gt 10
	through_nginx
	unmount_fs "$T/mnt"; check "unmount ends the daemon with status 0" test $? -eq 0
else
	kill -KILL "$MOUNT_PID" 2>/dev/null
	fail "mount the drop directory (a FIFO member must not block it)"
fi

# follow_symlinks=all, the control: the planted link is followed, so the
# checks above could fail.
if mount_fs "$T/drop" "$T/mnt" -o allow_other,follow_symlinks=all; then
	check "follow_symlinks=all (control): the private file is served as 'mine'" \
		test -n "$(grep_secret "$T/mnt/mine")"
	unmount_fs "$T/mnt"
else
	fail "mount the drop directory with follow_symlinks=all"
fi
if mount_fs "$T/drop" "$T/mnt" -o follow_symlinks=no; then
	check "follow_symlinks=no: no link is a member, not even one inside" \
		test "$(ls "$T/mnt" | tr '\n' ' ')" = "_cellucid column datasets.json public "
	unmount_fs "$T/mnt"
else
	fail "mount the drop directory with follow_symlinks=no"
fi
refused "follow_symlinks=sometimes is refused naming the option" "follow_symlinks" \
	"$T/drop" "$T/mnt" -o follow_symlinks=sometimes

finish
