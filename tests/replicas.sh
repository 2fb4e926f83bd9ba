#!/usr/bin/env bash
# tests/replicas.sh - two cellucidfs replicas behind an nginx upstream:
# stopping one replica in the middle of a load loses no request.
#
#   bash tests/replicas.sh
#
# docs/scaling.md describes the deployment this reproduces on loopback and
# why the front retries what it retries. Here:
#   - pbmc68k_reduced.h5ad is mounted twice (two daemons, two cache
#     directories) with allow_other,default_permissions and the front's port
#     for _cellucid/info, so that both replicas announce the same address;
#   - each mount is served by its own nginx on 127.0.0.1:18101 and :18102,
#     configured by `scripts/demo.sh conf` from the shipped server block;
#   - a front nginx on 127.0.0.1:18100 balances over both with the upstream
#     and proxy settings of docs/scaling.md;
#   - tests/replicas_client.py requests random export files through the
#     front on 4 keep-alive connections and checks every answer.
# Before the load: both mounts hold the same bytes; both replicas and the
# front send the same ETag, Last-Modified, Content-Length, Cache-Control and
# CORS header for a sample of files, the ETag being "hex(mtime)-hex(size)";
# an ETag from replica 1 revalidates at replica 2; the front does not serve
# .cellucidfs/status.json (nor does a replica: the shipped block answers 404
# for it); a missing file is still a 404
# through the front.
# During the load, replica 1 stops in two ways, each phase lasting until the
# front has logged PHASE_REQUESTS requests since the stop and has retried at
# least one of them on replica 2 because of it (so the phase is known to have
# exercised the failure):
#   1. its nginx dies (SIGKILL to master and workers: a crash, the OOM
#      killer): the front's connections are refused or reset (logged as 502),
#      and `error` retries them; the nginx is then restarted and must get
#      requests again once fail_timeout has passed;
#   2. its mount is unmounted (fusermount3 -u -z) while its nginx runs on:
#      nginx finds an empty folder and answers 404 for every file it does not
#      hold open, and `http_404` retries them. The daemon goes on serving the
#      files nginx holds open, so requests in flight complete. (SIGTERM to the
#      daemon instead ends its loop before it unmounts, and the FUSE requests
#      of that instant fail: docs/scaling.md has the numbers.)
# The test passes when every request got status 200 and the file's bytes, and
# the front still serves afterwards with replica 1's mount gone.
#
# Needs root (or user_allow_other in /etc/fuse.conf), FUSE, nginx, curl and
# ../shared/fixtures; skips with a message otherwise. Takes about 12 s.
#
#   $ bash tests/replicas.sh
#   ok replicas: both mounts hold the same 786 files
#   ok replicas: front on 127.0.0.1:18100 over replicas on :18101 and :18102
#   ok replicas: ETag, Last-Modified, Content-Length, Cache-Control, CORS identical on both replicas and through the front (40 files)
#   ok replicas: ETag = hex(mtime of the .h5ad)-hex(size), e.g. "6b0572c0-1e5"
#   ok replicas: .cellucidfs/status.json is served neither by a replica nor by the front
#   ok replicas: replica 1's ETag revalidates at replica 2 (304 Not Modified)
#   ok replicas: a missing file is a 404 through the front (asked of 2 replicas)
#   ok replicas: replica 1's nginx killed (SIGKILL): 1418 requests since, 3 retried after 502
#   ok replicas: replica 1's nginx restarted, back in the upstream after 5.0 s
#   ok replicas: replica 1's mount unmounted (fusermount3 -u -z) under its nginx: 1225 requests since, 609 retried after 404
#   ok replicas: no request lost: 18383 requests in 6.7 s, each 200 with the file's bytes
#   ok replicas: the front still serves with replica 1's mount gone
set -u
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LC_ALL=C

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
FRONT=18100
PORTS=(18101 18102)      # replica 1, replica 2
PHASE_REQUESTS=1000      # requests through the front in each failure phase
PHASE_TIMEOUT=15         # seconds a phase (or the restart) may take at most
SAMPLE=40                # files whose headers are compared across replicas

if ! have_fuse; then skip "replicas: no /dev/fuse or fusermount3"; exit 0; fi
if ! command -v nginx >/dev/null || ! command -v curl >/dev/null; then
	skip "replicas: nginx or curl is not installed (make deps)"; exit 0
fi
if [ ! -f "$PBMC" ]; then skip "replicas: $FIXTURES absent (../shared not beside the repo)"; exit 0; fi
if [ "$(id -u)" -ne 0 ] && ! grep -qs '^[[:space:]]*user_allow_other' /etc/fuse.conf; then
	skip "replicas: allow_other needs root or user_allow_other in /etc/fuse.conf"; exit 0
fi
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$FRONT" "${PORTS[@]}"; do
	if port_busy "$p"; then fail "replicas: port $p is in use"; exit 1; fi
done

T=$(mktemp -d)
chmod 755 "$T"   # the nginx workers (www-data when root) must reach the mounts
ACCESS=$T/front/access.log
declare -a DAEMON   # cellucidfs pid per replica (index 1, 2)
CLIENT=

# nginx_ctl NAME ARGS...: the private nginx whose prefix is $T/NAME.
nginx_ctl() { nginx -p "$T/$1/" -c "$T/$1/nginx.conf" -e "$T/$1/error.log" "${@:2}"; }

# kill_nginx NAME: SIGKILL to its master and workers, as a crash would.
kill_nginx() {
	local master workers
	master=$(cat "$T/$1/nginx.pid")
	mapfile -t workers < <(pgrep -P "$master")
	kill -KILL "$master" "${workers[@]}"
}

stop_nginx() {
	local pid i
	pid=$(cat "$T/$1/nginx.pid" 2>/dev/null) || return 0
	alive "$pid" || return 0
	nginx_ctl "$1" -s stop 2>/dev/null || kill -TERM "$pid"
	for i in $(seq 1 50); do alive "$pid" || return 0; sleep 0.1; done
	kill_nginx "$1"
}

cleanup() {
	local n
	[ -n "$CLIENT" ] && kill "$CLIENT" 2>/dev/null
	for n in front replica1 replica2; do stop_nginx "$n"; done
	for n in 1 2; do
		mountpoint -q "$T/mnt$n" && { fusermount3 -u "$T/mnt$n" 2>/dev/null || fusermount3 -u -z "$T/mnt$n"; }
		# A lazily unmounted daemon exits once nginx has closed its files.
		[ -n "${DAEMON[n]:-}" ] && { MOUNT_PID=${DAEMON[n]}; wait_daemon >/dev/null 2>&1; }
	done
	rm -rf "$T"
}
trap cleanup EXIT

# --- two mounts, two replica nginx, one front --------------------------------------

# mount_replica N: mount the dataset on $T/mntN as a replica does.
mount_replica() {
	mount_fs "$PBMC" "$T/mnt$1" -o "allow_other,default_permissions,cache_dir=$T/cache$1,port=$FRONT" ||
		return 1
	DAEMON[$1]=$MOUNT_PID
}

# start_replica N: its nginx, from the shipped server block.
start_replica() {
	mkdir -p "$T/replica$1/tmp"
	bash "$ROOT/scripts/demo.sh" conf "$T/mnt$1" "${PORTS[$1 - 1]}" "$T/replica$1" >"$T/replica$1/nginx.conf" &&
		nginx_ctl "replica$1" 2>/dev/null
}

# The front: the upstream block of docs/scaling.md, and an access log that
# names every upstream a request went to and what each answered.
front_conf() {
	local user m
	if [ "$(id -u)" -eq 0 ]; then
		user=$(id -u www-data >/dev/null 2>&1 && echo www-data || echo nobody)
		echo "user $user $(id -gn "$user");"
	fi
	cat <<-EOF
	worker_processes 2;
	pid "$T/front/nginx.pid";
	error_log "$T/front/error.log";
	events {
	    worker_connections 512;
	}
	http {
	    log_format upstreams '\$status "\$upstream_addr" "\$upstream_status" \$request_uri';
	    access_log "$ACCESS" upstreams;
	    client_body_temp_path "$T/front/tmp/client_body";
	    proxy_temp_path "$T/front/tmp/proxy";
	EOF
	# Keep nginx out of the system's /var/lib/nginx (as scripts/demo.sh does).
	for m in fastcgi uwsgi scgi; do
		nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
			echo "    ${m}_temp_path \"$T/front/tmp/$m\";"
	done
	cat <<-EOF

	    upstream cellucid {
	        zone cellucid 64k;
	        server 127.0.0.1:${PORTS[0]} max_fails=3 fail_timeout=5s;
	        server 127.0.0.1:${PORTS[1]} max_fails=3 fail_timeout=5s;
	        keepalive 16;
	    }

	    server {
	        listen 127.0.0.1:$FRONT;
	        location / {
	            proxy_pass http://cellucid;
	            proxy_http_version 1.1;
	            proxy_set_header Connection "";
	            proxy_connect_timeout 2s;
	            proxy_next_upstream error timeout http_502 http_503 http_504 http_404;
	            proxy_next_upstream_tries 2;
	        }

	        # The daemon's counters differ per replica: not public.
	        location /.cellucidfs/ {
	            return 404;
	        }
	    }
	}
	EOF
}

for n in 1 2; do
	if ! mount_replica "$n"; then fail "replicas: mount $PBMC on $T/mnt$n"; exit 1; fi
done
if ! diff -r "$T/mnt1" "$T/mnt2" >"$T/diff" 2>&1; then
	fail "replicas: the two mounts differ: $(head -n 3 "$T/diff" | tr '\n' ' ')"
	exit 1
fi
ok "replicas: both mounts hold the same $(find "$T/mnt1" -type f | wc -l) files"

for n in 1 2; do
	if ! start_replica "$n"; then
		fail "replicas: replica $n's nginx does not start: $(tail -n 2 "$T/replica$n/error.log" 2>/dev/null | tr '\n' ' ')"
		exit 1
	fi
done

# --- the front ------------------------------------------------------------------------

mkdir -p "$T/front/tmp"
front_conf >"$T/front/nginx.conf"
if ! nginx_ctl front -q -t 2>/dev/null || ! nginx_ctl front 2>/dev/null; then
	fail "replicas: the front nginx does not start: $(tail -n 2 "$T/front/error.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
ok "replicas: front on 127.0.0.1:$FRONT over replicas on :${PORTS[0]} and :${PORTS[1]}"

# --- identical headers --------------------------------------------------------------

# headers URL: the headers a cache keys on, of a HEAD request, as
# "ETag|Last-Modified|Content-Length|Cache-Control|Access-Control-Allow-Origin".
headers() {
	curl -sfI "$1" | tr -d '\r' | awk -F': ' '{ h[tolower($1)] = $2 } END {
		print h["etag"] "|" h["last-modified"] "|" h["content-length"] "|" \
			h["cache-control"] "|" h["access-control-allow-origin"] }'
}
status_at() { curl -s -o /dev/null -w '%{http_code}' "$@"; }   # curl ARGS...: the status
mapfile -t files < <(cd "$T/mnt2" && find . -type f -printf '%P\n' | sort)
mtime=$(stat -c %Y "$PBMC")
differ=() formula=() sampled=0 example=
for ((i = 0; i < ${#files[@]}; i += ${#files[@]} / SAMPLE + 1)); do
	f=${files[i]}
	one=$(headers "http://127.0.0.1:${PORTS[0]}/$f")
	two=$(headers "http://127.0.0.1:${PORTS[1]}/$f")
	front=$(headers "http://127.0.0.1:$FRONT/$f")
	if [ "$one" != "$two" ] || [ "$one" != "$front" ] || [ "${one%%|*}" = "" ]; then
		differ+=("$f (replica 1: $one; replica 2: $two; front: $front)")
	fi
	printf -v want '"%x-%x"' "$mtime" "$(stat -c %s "$T/mnt2/$f")"
	[ "${one%%|*}" = "$want" ] || formula+=("$f (${one%%|*}, not $want)")
	sampled=$((sampled + 1)) example=${one%%|*}
done
if [ ${#differ[@]} -eq 0 ]; then
	ok "replicas: ETag, Last-Modified, Content-Length, Cache-Control, CORS identical on both replicas and through the front ($sampled files)"
else
	fail "replicas: headers differ for ${#differ[@]} of $sampled files, e.g. ${differ[0]}"
fi
if [ ${#formula[@]} -eq 0 ]; then
	ok "replicas: ETag = hex(mtime of the .h5ad)-hex(size), e.g. $example"
else
	fail "replicas: ETag is not hex(mtime)-hex(size) for ${#formula[@]} files, e.g. ${formula[0]}"
fi

code=$(status_at "http://127.0.0.1:${PORTS[0]}/.cellucidfs/status.json")/$(status_at "http://127.0.0.1:$FRONT/.cellucidfs/status.json")
if [ "$code" = 404/404 ]; then
	ok "replicas: .cellucidfs/status.json is served neither by a replica nor by the front"
else
	fail "replicas: .cellucidfs/status.json: status $code at replica 1 / the front, not 404/404"
fi

# What a CDN or browser does with a JSON file: revalidate with the ETag it
# got, here from replica 1, against replica 2.
etag=$(headers "http://127.0.0.1:${PORTS[0]}/obs_manifest.json")
etag=${etag%%|*}
code=$(status_at -H "If-None-Match: $etag" "http://127.0.0.1:${PORTS[1]}/obs_manifest.json")
if [ "$code" = 304 ]; then
	ok "replicas: replica 1's ETag revalidates at replica 2 (304 Not Modified)"
else
	fail "replicas: replica 1's ETag $etag at replica 2: status $code, not 304"
fi

# The front's access log says, per request, which replicas it asked and what
# each answered: what shows that a phase exercised its failure.
logged() { if [ -f "$ACCESS" ]; then wc -l <"$ACCESS"; else echo 0; fi; }
since() { tail -n "+$(($1 + 1))" "$ACCESS"; }              # MARK: the lines after line MARK
logged_since() { [ $(($(logged) - $1)) -ge "$2" ]; }       # MARK COUNT

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s; 1 when it never held.
wait_until() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do "${@:2}" && return 0; sleep 0.1; done
	return 1
}

# http_404 in proxy_next_upstream sends a genuinely missing file to a second
# replica, whose 404 is the answer.
mark=$(logged)
code=$(status_at "http://127.0.0.1:$FRONT/no-such-file.json")
wait_until 5 logged_since "$mark" 1   # nginx logs once it has answered
asked=$(since "$mark" | awk -F'"' '{ print split($2, a, ", ") }')
if [ "$code" = 404 ]; then
	ok "replicas: a missing file is a 404 through the front (asked of $asked replicas)"
else
	fail "replicas: a missing file through the front: status $code, not 404"
fi

# --- the load and the stops ---------------------------------------------------------------

# retried_after STATUS: how many of stdin's lines are requests that replica 1
# failed with STATUS and replica 2 then answered with 200.
retried_after() { grep -c "^200 \"127.0.0.1:${PORTS[0]}, 127.0.0.1:${PORTS[1]}\" \"$1, 200\" "; }

# phase WHAT STATUS MARK: wait until PHASE_REQUESTS requests were logged since
# line MARK, at least one of them retried after replica 1 answered STATUS.
phase() {
	local what=$1 status=$2 mark=$3 i n=0 r=0
	for ((i = 0; i < PHASE_TIMEOUT * 10; i++)); do
		n=$(($(logged) - mark))
		r=$(since "$mark" | retried_after "$status")
		[ "$n" -ge "$PHASE_REQUESTS" ] && [ "$r" -ge 1 ] && break
		sleep 0.1
	done
	if [ "$r" -ge 1 ]; then
		ok "replicas: $what: $n requests since, $r retried after $status"
	else
		fail "replicas: $what: no request retried after $status in $PHASE_TIMEOUT s ($n requests)"
	fi
}
served_by_1_since() { since "$1" | grep -q "^200 \"127.0.0.1:${PORTS[0]}\" \"200\" "; }

"$PY" "$ROOT/tests/replicas_client.py" "http://127.0.0.1:$FRONT" "$T/mnt2" "$T/stop" >"$T/client.out" 2>&1 &
CLIENT=$!
wait_until "$PHASE_TIMEOUT" logged_since "$mark" "$PHASE_REQUESTS" ||
	fail "replicas: the client made fewer than $PHASE_REQUESTS requests in $PHASE_TIMEOUT s"

# 1. Replica 1's nginx dies at once.
mark=$(logged)
kill_nginx replica1
phase "replica 1's nginx killed (SIGKILL)" 502 "$mark"

# Back in the upstream when the front tries it again, fail_timeout after it
# marked it down.
mark=$(logged)
start=$EPOCHREALTIME
if start_replica 1 && wait_until "$PHASE_TIMEOUT" served_by_1_since "$mark"; then
	ok "replicas: replica 1's nginx restarted, back in the upstream after" \
		"$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
else
	fail "replicas: replica 1's nginx restarted: no request served by it within $PHASE_TIMEOUT s"
fi

# 2. Replica 1's mount goes away while its nginx goes on. (A plain
# fusermount3 -u would fail: nginx's open_file_cache holds files open.)
mark=$(logged)
if fusermount3 -u -z "$T/mnt1"; then
	phase "replica 1's mount unmounted (fusermount3 -u -z) under its nginx" 404 "$mark"
else
	fail "replicas: fusermount3 -u -z $T/mnt1 failed"
fi

touch "$T/stop"
wait "$CLIENT"
status=$?
CLIENT=
read -r _ requests _ _ _ seconds < <(head -n 1 "$T/client.out")
if [ "$status" -eq 0 ]; then
	ok "replicas: no request lost: $requests requests in $seconds s, each 200 with the file's bytes"
else
	fail "replicas: $(head -n 1 "$T/client.out"), e.g."
	tail -n +2 "$T/client.out" | sed 's/^/    /'
fi

if curl -sf "http://127.0.0.1:$FRONT/_cellucid/health" | cmp -s - "$T/mnt2/_cellucid/health"; then
	ok "replicas: the front still serves with replica 1's mount gone"
else
	fail "replicas: the front does not serve _cellucid/health with replica 1's mount gone"
fi

finish
