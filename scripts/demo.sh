#!/usr/bin/env bash
# demo.sh - the cellucidfs demo: a synthetic dataset, mounted with cellucidfs
# and served to the Cellucid viewer by a private nginx.
#
#   scripts/demo.sh start    (make demo)       generate, mount, serve, print the URLs
#   scripts/demo.sh stop     (make demo-stop)  stop nginx, unmount, wait for the daemon
#   scripts/demo.sh conf ROOT PORT PREFIX      print the complete nginx.conf that serves
#                                              ROOT on 127.0.0.1:PORT with its files in
#                                              PREFIX (tests/nginx.sh uses this too)
#   scripts/demo.sh cert DIR                   make DIR/cert.pem and DIR/key.pem, a
#                                              self-signed certificate for 127.0.0.1
#                                              and localhost (kept if already there)
#
# Everything lives in the state directory .demo/ of the repository (not in
# git; /var/lib/cellucidfs-demo instead for root when nginx's workers cannot
# reach the repository, e.g. in root's home): demo.h5ad (generated once, 50 000 cells x 2 000 genes), the mountpoint
# mnt/, its persistent cache cache/, cellucidfs.log, nginx.conf, nginx's pid
# and logs, the web app's cache app-cache/ and tls/, the certificate of the
# https port. nginx runs as its
# own master process (nginx -p .demo/), never touching the system nginx or
# /etc/nginx. stop is safe at any time, also twice or when nothing runs.
#
# The Cellucid web app is served at / (scripts/nginx/cellucid.conf): start
# asks for it once and says whether it came; when www.cellucid.com cannot be
# reached and no copy is cached, it points at the preview page instead.
#
# Environment: CELLUCID_PORT (default 8080, on 127.0.0.1), CELLUCID_TLS_PORT
# (default 8443; "none" for no https), CELLUCID_DEMO_DIR (instead of .demo/),
# CELLUCIDFS_BIN (instead of ./cellucidfs), CELLUCID_MOUNT_TIMEOUT (seconds to
# wait for the mount, default 120), CELLUCID_APP_DIR (a checkout of
# theislab/cellucid to serve instead of the hosted app).
#
#   $ make demo
#   demo: generating /home/me/cellucidfs/.demo/demo.h5ad (50000 cells x 2000 genes)
#   gen-h5ad: wrote /home/me/cellucidfs/.demo/demo.h5ad: 50000 cells x 2000 genes, ...
#   demo: mounting /home/me/cellucidfs/.demo/mnt
#   demo: serving /home/me/cellucidfs/.demo/mnt on http://127.0.0.1:8080
#
#     open  http://127.0.0.1:8080/   the Cellucid viewer, with this dataset
#     ...
#   $ curl -s http://127.0.0.1:8080/_cellucid/health
#   {"status":"ok","type":"exported","version":"0.1.0"}
#   $ make demo-stop
#   demo: stopped
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# untraversable DIR: the directories from DIR up to / that the nginx worker
# user cannot pass (no o+x), when that matters: the workers are another user
# only when nginx starts as root.
untraversable() {
	local d=$1
	[ "$(id -u)" -eq 0 ] || return 0
	while [ "$d" != / ]; do
		[ ! -e "$d" ] || [ $(($(stat -c %a "$d") % 2)) -eq 1 ] || echo "$d"
		d=$(dirname "$d")
	done
}

# .demo/ in the repository; but a repository in root's home (mode 700, as on
# a fresh Debian) is out of the workers' reach, so root's demo then lives in
# /var/lib/cellucidfs-demo.
FALLBACK_STATE=/var/lib/cellucidfs-demo
if [ -n "${CELLUCID_DEMO_DIR:-}" ]; then
	STATE=$CELLUCID_DEMO_DIR
elif [ -z "$(untraversable "$ROOT")" ]; then
	STATE=$ROOT/.demo
else
	STATE=$FALLBACK_STATE
fi
PORT=${CELLUCID_PORT:-8080}
TLS_PORT=${CELLUCID_TLS_PORT:-8443}
BIN=${CELLUCIDFS_BIN:-$ROOT/cellucidfs}
GEN=$ROOT/build/gen-h5ad
TEMPLATE=$ROOT/scripts/nginx/cellucid.conf
CELLS=50000
GENES=2000
DATA=$STATE/demo.h5ad
MNT=$STATE/mnt
MOUNT_TIMEOUT=${CELLUCID_MOUNT_TIMEOUT:-120}   # seconds until the first file is readable

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

# --- nginx configuration ---------------------------------------------------

# The unprivileged user nginx workers run as when the master is root, and its
# primary group (nobody's group is not called nobody on Debian).
worker_user() { id -u www-data >/dev/null 2>&1 && echo www-data || echo nobody; }

# nginx_conf ROOT PORT PREFIX: the server block of scripts/nginx/cellucid.conf
# with its root and port replaced, inside a complete configuration whose pid
# file, logs, temporary directories and the web app's cache (PREFIX/app-cache)
# are all under PREFIX. The preview page is copied to PREFIX/preview and
# served from there: the worker user can read PREFIX, but perhaps not the
# source tree (a private home directory). The DNS servers are those of
# /etc/resolv.conf. Optional, from the environment:
#   CELLUCID_APP_DIR       serve this checkout of theislab/cellucid at /
#                          instead of proxying the hosted app
#   CELLUCID_APP_UPSTREAM  proxy this https://host[:port] instead of
#   CELLUCID_APP_CA        https://www.cellucid.com, trusting this CA file
#                          (tests/viewer.sh's stand-in for the site)
#   CELLUCID_TLS_PORT      also serve https on 127.0.0.1:CELLUCID_TLS_PORT
#   CELLUCID_TLS_CERT/KEY  with this certificate and key
nginx_conf() {
	local root=$1 port=$2 prefix=$3 user m v
	local -a edits=()
	for v in "$root" "$prefix" "${CELLUCID_APP_DIR:-}" "${CELLUCID_APP_UPSTREAM:-}" \
		"${CELLUCID_APP_CA:-}" "${CELLUCID_TLS_CERT:-}" "${CELLUCID_TLS_KEY:-}"; do
		case "$v" in *[\"\\\$\;\{\}\|\&]*)
			die "cannot use a value with quotes, backslashes, \$, ;, braces, | or & in nginx.conf: $v" ;;
		esac
	done
	# edit LINE REPLACEMENT: replace the template line LINE (a sed regex of
	# the whole line, without its indentation), which must be there once.
	edit() {
		[ "$(grep -c "^[[:space:]]*$1\$" "$TEMPLATE")" -eq 1 ] ||
			die "$TEMPLATE lacks the line '$1' (or has it twice)"
		edits+=(-e "s|^\([[:space:]]*\)$1\$|\1$2|")
	}
	edit 'root /srv/cellucid;' "root \"$root\";"
	edit 'listen 127.0.0.1:8080;' "listen 127.0.0.1:$port;"
	edit 'alias /usr/local/share/cellucidfs/preview/;' "alias \"$prefix/preview/\";"
	edit 'proxy_cache_path /var/lib/nginx/cellucid-app \(.*\)' "proxy_cache_path \"$prefix/app-cache\" \\2"
	v=$(awk '$1 == "nameserver" { printf " %s", ($2 ~ /:/ ? "[" $2 "]" : $2) }' /etc/resolv.conf 2>/dev/null)
	[ -z "$v" ] || edit 'resolver .*' "resolver$v valid=300s ipv6=off;"
	if [ -n "${CELLUCID_APP_DIR:-}" ]; then
		edit 'set $cellucid_app hosted;' 'set $cellucid_app local;'
		edit 'set $cellucid_app_dir /srv/cellucid-app;' "set \$cellucid_app_dir \"$CELLUCID_APP_DIR\";"
	fi
	[ -z "${CELLUCID_APP_UPSTREAM:-}" ] ||
		edit 'set $cellucid_app_upstream https://www.cellucid.com;' "set \$cellucid_app_upstream $CELLUCID_APP_UPSTREAM;"
	[ -z "${CELLUCID_APP_CA:-}" ] ||
		edit 'proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;' "proxy_ssl_trusted_certificate \"$CELLUCID_APP_CA\";"
	if [ -n "${CELLUCID_TLS_PORT:-}" ]; then
		edit '#listen 127.0.0.1:8443 ssl;' "listen 127.0.0.1:$CELLUCID_TLS_PORT ssl;"
		edit '#ssl_certificate /etc/cellucidfs/tls/cert.pem;' "ssl_certificate \"$CELLUCID_TLS_CERT\";"
		edit '#ssl_certificate_key /etc/cellucidfs/tls/key.pem;' "ssl_certificate_key \"$CELLUCID_TLS_KEY\";"
	fi

	echo "# Written by scripts/demo.sh from scripts/nginx/cellucid.conf; rewritten on each start."
	if [ "$(id -u)" -eq 0 ]; then
		user=$(worker_user)
		echo "user $user $(id -gn "$user");"
	fi
	cat <<-EOF
	worker_processes 2;
	pid "$prefix/nginx.pid";
	error_log "$prefix/error.log";

	events {
	    worker_connections 512;
	}

	http {
	    access_log "$prefix/access.log";
	    client_body_temp_path "$prefix/tmp/client_body";
	EOF
	# Without these, nginx would use the system's /var/lib/nginx/...; a
	# module left out of the build (nginx-light) must not be named at all.
	for m in proxy fastcgi uwsgi scgi; do
		nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
			echo "    ${m}_temp_path \"$prefix/tmp/$m\";"
	done
	echo
	rm -rf "$prefix/preview"
	cp -r "$ROOT/scripts/preview" "$prefix/preview"
	chmod -R a+rX "$prefix/preview"
	sed "${edits[@]}" -e 's/^/    /' -e 's/^    $//' "$TEMPLATE"
	echo "}"
}

# nginx with this prefix, config and error log (used for start, test and -s).
run_nginx() { nginx -p "$STATE/" -c "$STATE/nginx.conf" -e "$STATE/error.log" "$@"; }

# --- process helpers -------------------------------------------------------

# pid_of FILE NAME: the pid in FILE if that process is alive and is NAME (so a
# stale pid file never makes us signal an unrelated process).
pid_of() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$2" && echo "$pid"
}

# alive PID: running, and not a zombie (nobody may reap a daemon whose
# starter has exited, e.g. when PID 1 is not an init).
alive() {
	local state
	state=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) && [ "$state" != Z ]
}

# wait_gone PID SECONDS: wait for PID to exit; 1 if it is still there.
wait_gone() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

# mounted: is anything mounted on MNT? (Unlike mountpoint(1), this also sees a
# mount whose daemon died, which answers every access with ENOTCONN.)
mounted() { findmnt -rn --mountpoint "$MNT" >/dev/null 2>&1; }

# --- start ------------------------------------------------------------------

# Every directory above the mountpoint must let the worker user through (only
# when root: otherwise the workers run as the user who made the directories).
check_traversal() {
	local blocked
	blocked=$(untraversable "$STATE" | tr '\n' ' ')
	[ -z "$blocked" ] ||
		die "the nginx worker user cannot reach $MNT: no o+x on ${blocked% } (chmod o+x them, or set CELLUCID_DEMO_DIR elsewhere)"
	[ "$STATE" != "$FALLBACK_STATE" ] || [ -n "${CELLUCID_DEMO_DIR:-}" ] ||
		say "the nginx workers cannot reach $ROOT (no o+x on $(untraversable "$ROOT" | tr '\n' ' ' | sed 's/ $//')): the demo lives in $STATE"
}

generate() {
	if [ -s "$DATA" ]; then
		say "using $DATA"
		return
	fi
	say "generating $DATA ($CELLS cells x $GENES genes)"
	"$GEN" --cells "$CELLS" --genes "$GENES" --seed 1 "$DATA"
}

mount_demo() {
	# Without root, allow_other needs user_allow_other in /etc/fuse.conf; the
	# workers then run as the same user (nginx ignores `user`), so the mount
	# is readable to them even without it.
	# The persistent cache stays in the state directory too, not in ~/.cache.
	local opts=default_permissions,port=$PORT,cache_dir=$STATE/cache pid i
	case "$STATE" in *,*) die "cannot mount with a comma in the state directory: $STATE" ;; esac
	if [ "$(id -u)" -eq 0 ] || grep -qs '^[[:space:]]*user_allow_other' /etc/fuse.conf; then
		opts=allow_other,$opts
	fi
	mkdir -p "$MNT"
	say "mounting $MNT"
	# In the foreground but in its own session: the pid is known (stop waits
	# for it) and the log goes to a file.
	setsid "$BIN" "$DATA" "$MNT" -f -o "$opts" </dev/null >"$STATE/cellucidfs.log" 2>&1 &
	pid=$!
	disown "$pid"   # it outlives this script; bash need not report its end
	echo "$pid" >"$STATE/cellucidfs.pid"
	for ((i = 0; i < MOUNT_TIMEOUT * 10; i++)); do
		if ! alive "$pid"; then
			tail -n 20 "$STATE/cellucidfs.log" >&2
			die "cellucidfs exited before the mount was ready (log: $STATE/cellucidfs.log)"
		fi
		mounted && head -c 1 "$MNT/dataset_identity.json" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	stop >/dev/null
	die "the mount was not ready after $MOUNT_TIMEOUT s (log: $STATE/cellucidfs.log)"
}

serve() {
	local i user
	mkdir -p "$STATE/tmp"
	if [ "$TLS_PORT" != none ]; then
		export CELLUCID_TLS_PORT=$TLS_PORT CELLUCID_TLS_CERT=$STATE/tls/cert.pem CELLUCID_TLS_KEY=$STATE/tls/key.pem
	fi
	nginx_conf "$MNT" "$PORT" "$STATE" >"$STATE/nginx.conf"
	if [ "$(id -u)" -eq 0 ]; then
		user=$(worker_user)
		setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
			test -r "$MNT/dataset_identity.json" ||
			{ stop >/dev/null; die "user $user cannot read $MNT (was it mounted with allow_other?)"; }
	fi
	# nginx repeats its errors on stderr; the log has them once.
	if ! run_nginx -q -t 2>/dev/null || ! run_nginx 2>/dev/null; then
		tail -n 3 "$STATE/error.log" >&2 || true
		stop >/dev/null
		die "nginx did not start (log: $STATE/error.log)"
	fi
	for ((i = 0; i < 100; i++)); do
		curl -fs -o /dev/null "http://127.0.0.1:$PORT/_cellucid/health" && return 0
		sleep 0.1
	done
	stop >/dev/null
	die "nginx does not answer on port $PORT (log: $STATE/error.log)"
}

# app_status: how / answers: "fetched" (from the site, now or a fresh copy),
# "cached" (an old copy: the site cannot be reached) or "unreachable". The
# first request waits for the site: at most the resolver's and the proxy's
# timeouts (5 s each).
app_status() {
	local out
	out=$(curl -s -o /dev/null -w '%{http_code} %header{x-cache-status}' --max-time 15 "http://127.0.0.1:$PORT/")
	case "$out" in
	"200 STALE") echo cached ;;
	"200 "*) echo fetched ;;
	*) echo unreachable ;;
	esac
}

urls() {
	local base=http://127.0.0.1:$PORT tls=https://127.0.0.1:$TLS_PORT app status
	say "serving $MNT on $base"
	echo
	app=${CELLUCID_APP_DIR:-https://www.cellucid.com}
	status=$(app_status)
	if [ "$status" != unreachable ]; then
		echo "  open  $base/   the Cellucid viewer, with this dataset"
		[ "$status" = fetched ] ||
			echo "        (from nginx's cache: the web app, $app, cannot be reached now)"
	else
		echo "  The Cellucid web app ($app) cannot be reached from here, and no copy of it"
		echo "  is cached yet: open the preview instead (it works offline). $base/ will"
		echo "  serve the viewer once the app can be reached, and from the cache after that."
		echo
		echo "  open  $base/_preview/   the preview: the cells drawn, with self-checks"
	fi
	echo
	cat <<-EOF
	  preview           $base/_preview/   (no viewer needed, works offline)
	EOF
	[ "$TLS_PORT" = none ] || cat <<-EOF
	  hosted viewer     https://www.cellucid.com/?remote=$tls
	                    (accept the self-signed certificate once at $tls/_cellucid/health)
	EOF
	cat <<-EOF
	  dataset identity  $base/dataset_identity.json
	  server health     $base/_cellucid/health
	  logs              $STATE/cellucidfs.log, $STATE/error.log
	  stop              make demo-stop   (or scripts/demo.sh stop)
	EOF
}

# cert DIR: a self-signed certificate for the https port, for 127.0.0.1 and
# localhost; one that is there already is kept (the browser accepted it once).
cert() {
	local dir=$1
	[ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ] && return 0
	command -v openssl >/dev/null || die "openssl is not installed (make deps installs it)"
	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=cellucidfs demo" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "extendedKeyUsage=serverAuth" \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$dir/openssl.log" ||
		die "openssl could not make a certificate: $(tail -n 1 "$dir/openssl.log")"
	chmod 600 "$dir/key.pem"
}

start() {
	[ -x "$BIN" ] || die "$BIN is missing (make demo builds it)"
	[ -x "$GEN" ] || die "$GEN is missing (make demo builds it)"
	command -v nginx >/dev/null || die "nginx is not installed (make deps installs it)"
	if ! command -v fusermount3 >/dev/null || [ ! -c /dev/fuse ]; then
		die "FUSE is not available here (no fusermount3 or /dev/fuse)"
	fi
	mkdir -p "$STATE"
	chmod 755 "$STATE"
	check_traversal

	if pid_of "$STATE/nginx.pid" nginx >/dev/null &&
		pid_of "$STATE/cellucidfs.pid" cellucidfs >/dev/null && mounted; then
		say "already running"
		urls
		return
	fi
	stop >/dev/null   # whatever is left of an earlier run
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
		die "port $PORT is in use (set CELLUCID_PORT to another one)"
	fi
	if [ "$TLS_PORT" != none ] && (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; then
		die "port $TLS_PORT is in use (set CELLUCID_TLS_PORT to another one, or to none)"
	fi
	[ "$TLS_PORT" = none ] || cert "$STATE/tls"
	generate
	mount_demo
	serve
	urls
}

# --- stop -------------------------------------------------------------------

stop() {
	local pid i
	if pid=$(pid_of "$STATE/nginx.pid" nginx); then
		run_nginx -s quit 2>/dev/null || kill -QUIT "$pid"
		wait_gone "$pid" 10 || { kill -TERM "$pid" 2>/dev/null; wait_gone "$pid" 5 || true; }
	fi
	rm -f "$STATE/nginx.pid"

	pid=$(pid_of "$STATE/cellucidfs.pid" cellucidfs) || pid=
	if mounted; then
		# Busy right after nginx exits is possible for a moment; retry, and
		# fall back to a lazy unmount so the script always finishes.
		for ((i = 0; i < 10; i++)); do
			fusermount3 -u "$MNT" 2>/dev/null && break
			sleep 0.5
		done
		mounted && { say "$MNT is busy: unmounting lazily"; fusermount3 -u -z "$MNT"; }
	elif [ -n "$pid" ]; then
		kill -TERM "$pid"   # a start that never mounted: no unmount will end it
	fi
	# The unmount ends the daemon's loop; it exits once it has cleaned up.
	if [ -n "$pid" ] && ! wait_gone "$pid" 30; then
		say "cellucidfs ($pid) did not exit: killing it"
		kill -KILL "$pid"
	fi
	rm -f "$STATE/cellucidfs.pid"
	say "stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
conf)
	[ $# -eq 4 ] || die "usage: $0 conf ROOT PORT PREFIX"
	nginx_conf "$2" "$3" "$4"
	;;
cert)
	[ $# -eq 2 ] || die "usage: $0 cert DIR"
	cert "$2"
	;;
*)
	echo "usage: $0 start|stop|conf ROOT PORT PREFIX|cert DIR" >&2
	exit 2
	;;
esac
