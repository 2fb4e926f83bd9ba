# tests/lib.sh - helpers for the shell integration tests (sourced).
#
# Each check prints "ok <what>", "FAIL <what>: <why>" or "skip <what>: <why>";
# tests/run.sh counts those lines. A script exits non-zero when any check failed.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=$(cd "$ROOT/.." && pwd)/shared
FIXTURES=$SHARED/fixtures
REFERENCE=$SHARED/reference
BIN=${CELLUCIDFS_BIN:-$ROOT/cellucidfs}
PY=/usr/bin/python3
failures=0

ok()   { echo "ok $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
skip() { echo "skip $*"; }
check() { # check "what" command... (its output is shown only when it fails, 5 lines)
	local what=$1 out; shift
	if out=$("$@" 2>&1); then ok "$what"; else fail "$what"; head -5 <<<"$out" | sed 's/^/    /'; fi
}
finish() { [ "$failures" -eq 0 ]; }

# alive PID: running and not a zombie (a daemonised nginx master is reparented
# to PID 1, which in some containers never reaps it).
alive() {
	local state
	state=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) && [ "$state" != Z ]
}

have_fuse() { [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; }

# mount_test_setup WHAT: skip the whole script (naming WHAT) without FUSE or
# ../shared/fixtures; else make $T, a temporary directory with its own
# persistent cache, whose mountpoints $T/mnt* are unmounted and which is
# removed when the script exits.
mount_test_setup() {
	if ! have_fuse; then skip "$1: no /dev/fuse or fusermount3"; exit 0; fi
	if [ ! -f "$FIXTURES/pbmc68k_reduced.h5ad" ]; then
		skip "$1: $FIXTURES absent (../shared not beside the repo)"
		exit 0
	fi
	T=$(mktemp -d)
	export XDG_CACHE_HOME=$T/cache
	trap unmount_and_remove_temp EXIT
}

unmount_and_remove_temp() {
	local m
	for m in "$T"/mnt*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m"; done
	rm -rf "$T"
}

# refused "what" "expected message part" SOURCE MNT [options...]: the daemon
# refuses to mount, with one line holding the message part and a non-zero
# status.
refused() {
	local what=$1 want=$2; shift 2
	local out status
	out=$("$BIN" "$@" -f 2>&1); status=$?
	if [ $status -ne 0 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && grep -qF -- "$want" <<<"$out"; then
		ok "$what"
	else
		fail "$what: status $status, output: $out"
	fi
}

# mount_fs SOURCE MNT [options...]: start the daemon in the foreground in the
# background, wait up to 60 s for the mount to appear, and remember the pid in
# MOUNT_PID and its log (a new file in the test's $T) in MOUNT_LOG. Returns 1
# (after printing the daemon's log) when it never appears.
mount_fs() {
	local src=$1 mnt=$2; shift 2
	mkdir -p "$mnt"
	MOUNT_LOG=$(mktemp "${T:?mount_fs: no temporary directory \$T}/mount-log.XXXXXX")
	"$BIN" "$src" "$mnt" -f "$@" >"$MOUNT_LOG" 2>&1 &
	MOUNT_PID=$!
	local i
	for i in $(seq 1 600); do
		if mountpoint -q "$mnt"; then return 0; fi
		kill -0 "$MOUNT_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "mount of $src failed; daemon log:" >&2
	cat "$MOUNT_LOG" >&2
	return 1
}

# unmount_fs MNT: unmount and wait for the daemon to exit; its exit status is
# returned.
unmount_fs() {
	mountpoint -q "$1" && fusermount3 -u "$1"
	wait_daemon
}

# wait_until SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds;
# 1 when it did not within SECONDS.
wait_until() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		"${@:2}" && return 0
		sleep 0.1
	done
	return 1
}

# wait_daemon: wait (up to 30 s, then kill it) for the daemon started by
# mount_fs to exit; its exit status is returned.
wait_daemon() {
	local i
	for i in $(seq 1 300); do
		kill -0 "$MOUNT_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$MOUNT_PID" 2>/dev/null; then
		kill -9 "$MOUNT_PID"; wait "$MOUNT_PID" 2>/dev/null; return 99
	fi
	wait "$MOUNT_PID"
}

# chromium_drive OUT SECONDS COMMAND ARGS...: one headless Chromium ($CHROMIUM) in a fresh
# profile under OUT, driven over --remote-debugging-pipe by `tests/browser.py COMMAND FIFOS
# ARGS...` (Chromium's fd 3 reads commands from one FIFO, fd 4 writes replies to the other)
# and ended after SECONDS + 60. 1 when driving it failed: OUT/driver.log and OUT/chromium.log
# say why. Its own home too: Chromium writes crash-report settings and dconf files under
# ~/.config and ~/.cache whatever --user-data-dir says.
chromium_drive() {
	local out=$1 seconds=$2 command=$3 pid status
	shift 3
	mkdir -p "$out/profile" "$out/home"
	mkfifo "$out/cdp.cmd" "$out/cdp.reply"
	HOME=$out/home XDG_CONFIG_HOME=$out/home/.config XDG_CACHE_HOME=$out/home/.cache \
		timeout $((seconds + 60)) "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update --disable-sync \
		--hide-scrollbars --window-size=1200,900 --user-data-dir="$out/profile" \
		--remote-debugging-pipe 3<"$out/cdp.cmd" 4>"$out/cdp.reply" 2>"$out/chromium.log" &
	pid=$!
	"$PY" "$ROOT/tests/browser.py" "$command" "$out/cdp.cmd" "$out/cdp.reply" "$@" 2>"$out/driver.log"
	status=$?
	[ $status -eq 0 ] || kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return $status
}

# For tests running nginx instances under $T/NAME/ (NAME/nginx.conf, its pid file and logs
# there): nginx_in NAME ARGS... runs nginx on that prefix; stop_nginx NAME quits it and
# waits until its master is gone.
nginx_in() { nginx -p "$T/$1/" -c "$T/$1/nginx.conf" -e "$T/$1/error.log" "${@:2}"; }
stop_nginx() {
	local pid i
	pid=$(cat "$T/$1/nginx.pid" 2>/dev/null) || return 0
	nginx_in "$1" -s quit 2>/dev/null || kill -QUIT "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do alive "$pid" || return 0; sleep 0.1; done
	kill -TERM "$pid" 2>/dev/null
}

# free_ports FROM TO N: the first N ports of 127.0.0.1 in FROM..TO nobody listens on, in
# the array ports; 1 when there are fewer.
free_ports() {
	local p
	ports=()
	for p in $(seq "$1" "$2"); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || ports+=("$p")
		[ ${#ports[@]} -eq "$3" ] && return 0
	done
	return 1
}

# need_allow_other LABEL: exit 0 after a skip line when mounts cannot use allow_other.
need_allow_other() {
	if [ "$(id -u)" -ne 0 ] && ! grep -qs '^[[:space:]]*user_allow_other' /etc/fuse.conf; then
		skip "$1: allow_other needs root or user_allow_other in /etc/fuse.conf"; exit 0
	fi
}
