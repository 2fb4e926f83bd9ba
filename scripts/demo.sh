#!/usr/bin/env bash
# demo.sh - the cellucidfs demo: a synthetic dataset, mounted with cellucidfs
# and served to the Cellucid viewer by a private nginx.
#
#   scripts/demo.sh start    (make demo)       generate, mount, serve, print the URLs
#   scripts/demo.sh stop     (make demo-stop)  stop nginx, unmount, wait for the daemon
#   scripts/demo.sh conf ROOT PORT PREFIX      print the complete nginx.conf that serves
#                                              ROOT on 127.0.0.1:PORT with its files in
#                                              PREFIX (tests/nginx.sh uses this too)
#
# Everything lives in the state directory .demo/ of the repository (not in
# git): demo.h5ad (generated once, 50 000 cells x 2 000 genes), the mountpoint
# mnt/, cellucidfs.log, nginx.conf and nginx's pid and logs. nginx runs as its
# own master process (nginx -p .demo/), never touching the system nginx or
# /etc/nginx. stop is safe at any time, also twice or when nothing runs.
#
# Environment: CELLUCID_PORT (default 8080, on 127.0.0.1), CELLUCID_DEMO_DIR
# (instead of .demo/), CELLUCIDFS_BIN (instead of ./cellucidfs),
# CELLUCID_MOUNT_TIMEOUT (seconds to wait for the mount, default 120).
#
#   $ make demo
#   demo: generating /home/me/cellucidfs/.demo/demo.h5ad (50000 cells x 2000 genes)
#   gen-h5ad: wrote /home/me/cellucidfs/.demo/demo.h5ad: 50000 cells x 2000 genes, ...
#   demo: mounting /home/me/cellucidfs/.demo/mnt
#   demo: serving /home/me/cellucidfs/.demo/mnt on http://127.0.0.1:8080
#     dataset identity  http://127.0.0.1:8080/dataset_identity.json
#     ...
#   $ curl -s http://127.0.0.1:8080/_cellucid/health
#   {"status":"ok","type":"exported","version":"0.1.0"}
#   $ make demo-stop
#   demo: stopped
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${CELLUCID_DEMO_DIR:-$ROOT/.demo}
PORT=${CELLUCID_PORT:-8080}
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
# file, logs and temporary directories are all under PREFIX. The preview page
# is copied to PREFIX/preview and served from there: the worker user can read
# PREFIX, but perhaps not the source tree (a private home directory).
nginx_conf() {
	local root=$1 port=$2 prefix=$3 user m
	case "$root$prefix" in *[\"\\\$\;\{\}]*)
		die "cannot use a path with quotes, backslashes, \$, ; or braces in nginx.conf: $root" ;;
	esac
	if ! grep -q '^[[:space:]]*root /srv/cellucid;' "$TEMPLATE" ||
		! grep -q '^[[:space:]]*listen 127.0.0.1:8080;' "$TEMPLATE"; then
		die "$TEMPLATE lacks the 'root /srv/cellucid;' or 'listen 127.0.0.1:8080;' line"
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
	root=${root//&/\\&}   # & and the delimiter | are special in sed's replacement
	prefix=${prefix//&/\\&}
	sed -e "s|^\([[:space:]]*\)root /srv/cellucid;|\1root \"${root//|/\\|}\";|" \
		-e "s|listen 127.0.0.1:8080;|listen 127.0.0.1:$port;|" \
		-e "s|alias /usr/local/share/cellucidfs/preview/;|alias \"${prefix//|/\\|}/preview/\";|" \
		-e 's/^/    /' -e 's/^    $//' "$TEMPLATE"
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
	local d=$STATE blocked=()
	[ "$(id -u)" -eq 0 ] || return 0
	while [ "$d" != / ]; do
		[ $(($(stat -c %a "$d") % 2)) -eq 1 ] || blocked+=("$d")
		d=$(dirname "$d")
	done
	[ ${#blocked[@]} -eq 0 ] ||
		die "the nginx worker user cannot reach $MNT: no o+x on ${blocked[*]} (chmod o+x them, or set CELLUCID_DEMO_DIR elsewhere)"
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
	local opts=default_permissions,port=$PORT pid i
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

urls() {
	local base=http://127.0.0.1:$PORT
	say "serving $MNT on $base"
	cat <<-EOF
	  dataset identity  $base/dataset_identity.json
	  cell fields       $base/obs_manifest.json
	  genes             $base/var_manifest.json
	  server health     $base/_cellucid/health
	  preview           $base/_preview/   (the cells drawn in your browser)
	  viewer            open a Cellucid viewer page served over http with ?remote=$base
	  logs              $STATE/cellucidfs.log, $STATE/error.log
	  stop              make demo-stop   (or scripts/demo.sh stop)
	EOF
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
*)
	echo "usage: $0 start|stop|conf ROOT PORT PREFIX" >&2
	exit 2
	;;
esac
