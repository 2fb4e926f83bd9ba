#!/usr/bin/env bash
# tests/nginx.sh - serve an export tree with the shipped nginx configuration
# and check, over HTTP, that every file reaches the viewer intact.
#
#   bash tests/nginx.sh ROOT [PORT]
#
# ROOT is a cellucidfs mountpoint (the caller mounts and unmounts it) or any
# folder in the export layout. The test runs its own nginx: a master process
# with a temporary prefix, workers as www-data (or nobody) when run as root,
# and the nginx.conf that `scripts/demo.sh conf` makes from
# scripts/nginx/cellucid.conf, so the configuration users get is the one under
# test. PORT defaults to the first free port from 18080.
#
# Files checked: all of them, or, when there are more than 300, every JSON and
# _cellucid/ file plus 300 payloads: those outside var/ (at most 150) and
# genes for the rest, each picked evenly from its sorted list. Each is fetched
# with curl as a browser would (Accept-Encoding: gzip, deflate, br), and each
# check below prints one line for all files together:
#   - status 200;
#   - Content-Length = body length = the file's size on disk;
#   - body = the file; for .gz, also gunzipped body = gunzipped file;
#   - no Content-Encoding header (the viewer inflates .gz itself);
#   - Content-Type: exactly application/json for _cellucid/* and *.json,
#     application/octet-stream for payloads;
#   - Access-Control-Allow-Origin: *, also on a 404;
#   - Cache-Control: long for payloads, revalidation for JSON;
#   - nginx's error log has no "truncated" and nothing at [alert] or worse
#     (nginx's sign of a file whose size changed while it was sent).
#
#   $ cp -r ../shared/reference/pbmc68k_reduced-c6-q8 /tmp/ref
#   $ bash tests/nginx.sh /tmp/ref
#   ok nginx: started on 127.0.0.1:18080 (workers as www-data)
#   ok nginx: status 200 (304 files fetched of 783)
#   ok nginx: Content-Length = body length = size on disk
#   ...
set -u
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LC_ALL=C   # byte-wise sort and URL encoding

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
	echo "usage: bash tests/nginx.sh ROOT [PORT]   (ROOT: a mounted export tree)" >&2
	exit 2
fi
SERVE=$(cd "$1" && pwd)
MAX_FILES=300

if ! command -v nginx >/dev/null || ! command -v curl >/dev/null; then
	skip "nginx: nginx or curl is not installed (make deps)"
	exit 0
fi

PREFIX=$(mktemp -d)
chmod 755 "$PREFIX"
mkdir -p "$PREFIX/tmp" "$PREFIX/fetch"
run_nginx() { nginx -p "$PREFIX/" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" "$@"; }

cleanup() {
	local pid i
	if pid=$(cat "$PREFIX/nginx.pid" 2>/dev/null) && alive "$pid"; then
		run_nginx -s quit 2>/dev/null || kill -QUIT "$pid"
		for i in $(seq 1 100); do
			alive "$pid" || break
			sleep 0.1
		done
		alive "$pid" && kill -TERM "$pid"
	fi
	rm -rf "$PREFIX"
}
trap cleanup EXIT

# --- start nginx --------------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_nginx PORT (nginx's errors go to its log, which a failure reports)
start_nginx() {
	bash "$ROOT/scripts/demo.sh" conf "$SERVE" "$1" "$PREFIX" >"$PREFIX/nginx.conf" &&
		run_nginx -q -t 2>/dev/null && run_nginx 2>/dev/null
}

if [ $# -eq 2 ]; then
	PORT=$2
	start_nginx "$PORT"
	started=$?
else
	started=1
	for PORT in $(seq 18080 18099); do
		port_busy "$PORT" && continue
		start_nginx "$PORT" && { started=0; break; }
	done
fi
WORKER=$(id -un)
[ "$(id -u)" -eq 0 ] && WORKER=$(sed -n 's/^user \([^ ]*\).*/\1/p' "$PREFIX/nginx.conf")
if [ "$started" -ne 0 ]; then
	fail "nginx: does not start: $(tail -n 3 "$PREFIX/error.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
ok "nginx: started on 127.0.0.1:$PORT (workers as $WORKER)"
BASE=http://127.0.0.1:$PORT

if [ "$(id -u)" -eq 0 ] &&
	! setpriv --reuid="$WORKER" --regid="$(id -g "$WORKER")" --clear-groups test -r "$SERVE" -a -x "$SERVE"; then
	fail "nginx: user $WORKER cannot read $SERVE (mounted without allow_other, or a parent directory lacks o+x)"
	exit 1
fi

# --- which files ----------------------------------------------------------------

# every N: N lines of stdin, spread evenly (all of them when there are fewer).
every() { awk -v want="$1" '{ line[NR] = $0 } END {
	if (NR <= want) { for (i = 1; i <= NR; i++) print line[i]; exit }
	for (i = 0; i < want; i++) print line[int(i * NR / want) + 1] }'; }

all=$(cd "$SERVE" && find . -type f -printf '%P\n' | sort)
n_all=$(grep -c . <<<"$all")
if [ "$n_all" -eq 0 ]; then
	fail "nginx: $SERVE holds no files"
	exit 1
fi
is_json='(^|/)_cellucid/|\.json$'
json=$(grep -E "$is_json" <<<"$all")
payloads=$(grep -Ev "$is_json" <<<"$all")
if [ "$n_all" -le "$MAX_FILES" ]; then
	files=$all
else
	others=$(grep -Ev '(^|/)var/' <<<"$payloads" | every $((MAX_FILES / 2)))
	n_others=$(grep -c . <<<"$others")
	genes=$(grep -E '(^|/)var/' <<<"$payloads" | every $((MAX_FILES - n_others)))
	files=$(printf '%s\n%s\n%s\n' "$json" "$others" "$genes" | grep . | sort)
fi

# --- fetch and compare ------------------------------------------------------------

urlencode() {
	local s=$1 out="" c i
	if [[ $s =~ ^[A-Za-z0-9._~/-]*$ ]]; then
		echo "$s"
		return
	fi
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~/-]) out+=$c ;;
		*) printf -v c '%%%02X' "'$c"; out+=$c ;;
		esac
	done
	echo "$out"
}

# read_headers FILE: the response headers into hdr[lower-case name].
declare -A hdr
read_headers() {
	local k v
	hdr=()
	while IFS=: read -r k v; do
		v=${v%$'\r'}
		hdr[${k,,}]=${v# }
	done <"$1"
}

declare -A bad   # check name -> "file (why)" lines
note() { bad[$1]+="$2"$'\n'; }

B=$PREFIX/fetch/body H=$PREFIX/fetch/headers E=$PREFIX/fetch/error
n=0
while IFS= read -r f; do
	n=$((n + 1))
	if ! status=$(curl -sS --max-time 300 -H 'Accept-Encoding: gzip, deflate, br' \
		-D "$H" -o "$B" -w '%{http_code}' "$BASE/$(urlencode "$f")" 2>"$E"); then
		note status "$f ($(head -n 1 "$E"))"
		continue
	fi
	if [ "$status" != 200 ]; then
		note status "$f ($status)"
		continue
	fi
	read_headers "$H"
	read -r on_disk got < <(stat -c %s "$SERVE/$f" "$B" | tr '\n' ' ')
	length=${hdr[content-length]:-none}
	if [ "$length" != "$on_disk" ] || [ "$got" != "$on_disk" ]; then
		note length "$f (Content-Length $length, body $got, disk $on_disk)"
	fi
	cmp -s "$B" "$SERVE/$f" || note bytes "$f"
	if [[ $f == *.gz ]] && ! { gzip -dc <"$B" >"$B.raw" && gzip -dc <"$SERVE/$f" >"$B.file" &&
		cmp -s "$B.raw" "$B.file"; } 2>/dev/null; then
		note gunzip "$f"
	fi
	[ -z "${hdr[content-encoding]:-}" ] || note encoding "$f (${hdr[content-encoding]})"
	if [[ $f =~ $is_json ]]; then want=application/json; else want=application/octet-stream; fi
	[ "${hdr[content-type]:-}" = "$want" ] || note type "$f (${hdr[content-type]:-none})"
	[ "${hdr[access-control-allow-origin]:-}" = "*" ] || note cors "$f"
	cache=${hdr[cache-control]:-none}
	if [[ $f =~ $is_json ]]; then
		[ "$cache" = no-cache ] || note cache "$f ($cache)"
	elif ! [[ $cache =~ max-age=([0-9]+) && ${BASH_REMATCH[1]} -ge 86400 ]]; then
		note cache "$f ($cache)"
	fi
done <<<"$files"

# report CHECK WHAT: one line for the check over all files (the first three
# failures named).
report() {
	local list=${bad[$1]:-}
	if [ -z "$list" ]; then
		ok "nginx: $2"
	else
		local count
		count=$(grep -c . <<<"$list")
		fail "nginx: $2: wrong for $count file$([ "$count" -eq 1 ] || echo s), e.g." \
			"$(grep . <<<"$list" | head -n 3 | awk 'NR > 1 { printf "; " } { printf "%s", $0 }')"
	fi
}
report status "status 200 ($n files fetched of $n_all)"
report length "Content-Length = body length = size on disk"
report bytes "body = file"
if grep -q '\.gz$' <<<"$files"; then
	report gunzip "gunzipped body = gunzipped file"
else
	skip "nginx: gunzipped body = gunzipped file: no .gz files"
fi
report encoding "no Content-Encoding"
report type "Content-Type exactly application/json (JSON, _cellucid/*) or application/octet-stream"
report cors "Access-Control-Allow-Origin: *"
report cache "Cache-Control long for payloads, no-cache for JSON"
if grep -q '^_cellucid/' <<<"$files"; then
	ok "nginx: _cellucid/ handshake files checked ($(grep -c '^_cellucid/' <<<"$files"))"
else
	skip "nginx: _cellucid/ handshake files: none under $SERVE"
fi

missing=$(curl -s -D - -o /dev/null "$BASE/no-such-file.json")
if grep -q '^HTTP/[0-9.]* 404' <<<"$missing" && grep -qi '^Access-Control-Allow-Origin: \*' <<<"$missing"; then
	ok "nginx: a missing file is a 404 with Access-Control-Allow-Origin"
else
	fail "nginx: a missing file is a 404 with Access-Control-Allow-Origin: $(head -n 1 <<<"$missing" | tr -d '\r')"
fi

# The daemon's counters are for the host: 404 even where the file exists.
if [ -e "$SERVE/.cellucidfs/status.json" ]; then
	hidden=$(curl -s -D - -o /dev/null "$BASE/.cellucidfs/status.json")
	if grep -q '^HTTP/[0-9.]* 404' <<<"$hidden"; then
		ok "nginx: .cellucidfs/status.json is not served (404)"
	else
		fail "nginx: .cellucidfs/status.json is served: $(head -n 1 <<<"$hidden" | tr -d '\r')"
	fi
fi

problems=$(grep -E 'truncated|\[(alert|crit|emerg)\]' "$PREFIX/error.log")
if [ -z "$problems" ]; then
	ok "nginx: error log has no truncated file and no alert"
else
	fail "nginx: error log: $(head -n 3 <<<"$problems" | tr '\n' ' ')"
fi

finish
