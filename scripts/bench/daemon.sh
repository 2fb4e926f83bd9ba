# shellcheck shell=bash
# scripts/bench/daemon.sh - sourced by scripts/bench.sh: one cellucidfs
# daemon at a time, in the foreground of a background job, so that its pid
# (for VmHWM and CPU time) and its exit status are the bench's. Each step
# writes a time-stamped line into the daemon's log first, so that what the
# daemon says can be told apart by step.
#
#   start_daemon ./cellucidfs data.h5ad "$TMP/mnt" build/bench/main.log "cache_dir=$TMP/c" "(a) empty"
#   wait_mount build/bench/main.log && probe ...; unmount main "(a) empty"

DAEMON_PID=      # the cellucidfs daemon now running, and its mountpoint
DAEMON_MNT=

# alive PID: running, and not a zombie.
alive() {
	local state
	state=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) && [ "$state" != Z ]
}

# mounted: is anything on DAEMON_MNT? (findmnt also sees the mount of a
# daemon that died, which mountpoint(1) cannot stat.)
mounted() { findmnt -rn --mountpoint "$DAEMON_MNT" >/dev/null 2>&1; }

# mark LOG TEXT: a time-stamped line in a daemon's log.
mark() { echo "--- $(date +%T) $2" >>"$1"; }

# start_daemon BIN DATA MNT LOG OPTIONS STEP
start_daemon() {
	mkdir -p "$3"
	mark "$4" "$6: mount ${2##*/} -o $5 (${1})"
	"$1" "$2" "$3" -f -o "$5" </dev/null >>"$4" 2>&1 &
	DAEMON_PID=$! DAEMON_MNT=$3
}

# wait_mount LOG: wait (up to 120 s) for the mount of start_daemon.
wait_mount() {
	local i
	for ((i = 0; i < 2400; i++)); do
		mountpoint -q "$DAEMON_MNT" && return 0
		alive "$DAEMON_PID" || break
		sleep 0.05
	done
	say "$DAEMON_MNT did not appear; the daemon's log is $1"
	return 1
}

# stop_daemon: unmount, wait for the daemon to exit; its exit status.
stop_daemon() {
	local i=0 status=0
	[ -n "$DAEMON_PID" ] || return 0
	# Busy for a moment right after a reader exits is possible: retry, then
	# detach lazily so the bench always finishes.
	while mounted && [ "$i" -lt 20 ]; do
		fusermount3 -u "$DAEMON_MNT" 2>/dev/null && break
		sleep 0.5
		i=$((i + 1))
	done
	if mounted; then
		say "$DAEMON_MNT is busy: unmounting lazily"
		fusermount3 -u -z "$DAEMON_MNT"
	fi
	i=0
	while alive "$DAEMON_PID" && [ "$i" -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if alive "$DAEMON_PID"; then
		say "cellucidfs ($DAEMON_PID) did not exit 60 s after the unmount: killing it"
		kill -KILL "$DAEMON_PID"
	fi
	wait "$DAEMON_PID" || status=$?
	DAEMON_PID=
	return "$status"
}

# unmount KEY STEP: stop_daemon, noting a non-zero exit status.
unmount() {
	local status=0
	stop_daemon || status=$?
	[ "$status" -eq 0 ] || NOTES+=("$1 $2: the daemon exited with status $status (log: build/bench/$1.log)")
}

# peak_rss_kb: the daemon's peak resident set (VmHWM), in kB.
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status"; }

# daemon_cpu: the daemon's CPU seconds so far (user + system).
daemon_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$DAEMON_PID/stat"; }

# wait_index CACHE LOG SECONDS: wait for the gene index to be merged into
# the cache directory, so that a remount finds a complete, warm cache; 1 when
# the daemon said it will not be (failed, or built outside the cache).
wait_index() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		compgen -G "$1/*/genes.idx" >/dev/null && return 0
		grep -q -E 'unmerged scan|in a temporary file instead' "$2" && return 1
		grep -qs '"state":[[:space:]]*"failed"' "$DAEMON_MNT/.cellucidfs/status.json" && return 1
		sleep 0.1
	done
	return 1
}
