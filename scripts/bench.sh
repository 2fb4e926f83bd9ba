#!/usr/bin/env bash
# bench.sh - `make bench`: how fast cellucidfs makes a large .h5ad viewable,
# printed beside the figures of the reference Python tools on the same
# machine class (full `prepare()` export: 64.2 s, 2.3 GB peak RSS; AnnData-mode
# server: 4.0 s for the manifests, 2.9-4.0 s per gene, median 3.35 s, 1.4 GB).
#
# Dataset: build/gen-h5ad --cells 100000 --genes 20000 --per-cell 800 --seed 3
# (CSR, 700 MB), kept as build/data/bench-100k.h5ad and generated when absent.
# The .h5ad is read (cat) right before every timed mount: the bars are for a
# warm page cache. Each mount runs the daemon in the foreground (in
# the background), with default options plus cache_dir=<fresh or reused dir>.
#
#   (a) viewer-ready: from just before the daemon starts until
#       dataset_identity.json, obs_manifest.json, var_manifest.json, every
#       points file and every obs/ file have been read in full, one after the
#       other (scripts/bench/probe.py) - with an empty cache_dir, then after
#       remounting with the same, now warm, cache_dir (three remounts: the
#       median, with every run in the notes; one warm mount in a dozen here
#       takes 1-2 s instead of 0.1-0.2 s, the VM's disk answering late);
#   (b) first reads of 200 random gene files (fixed seed), each timed on its
#       own, on the empty-cache mount right after (a): p50, p99, max;
#   (c) `cp -r` of the whole mount, started as soon as a fresh mount with an
#       empty cache_dir appears: wall time, and the daemon's peak RSS (VmHWM)
#       when it ends - a full materialisation, like prepare(); the copy goes
#       to RAM (/dev/shm) where possible, so the destination disk is not
#       what is measured. Three runs (a fresh mount and cache_dir each): the
#       median, with every run in the notes. Then the floor under it:
#       build/deflate-floor makes the copy's gene files again at level 6
#       with the daemon's encoder, libdeflate and zlib, one thread per core
#       (and checks that the daemon's encoder gives the copy's bytes): the
#       seconds of the first two, the size of the first against zlib's;
#   (d) nginx (scripts/nginx/cellucid.conf, via `scripts/demo.sh conf`),
#       `wrk -t2 -c16 -d20s` on random gene files (scripts/bench/
#       random_genes.lua, fixed seed): from (c)'s mount, where every gene has
#       been generated once, so this measures serving, not generating; then
#       from (c)'s copy in a plain directory;
#   (z) (a)-(c) on the same data as a Zarr store, as adata.write_zarr writes
#       it with zarr's default compressor (Blosc-lz4, byte shuffle; made
#       once with scripts/bench/to_zarr.py, kept beside the .h5ad as
#       bench-100k.zarr), each beside the .h5ad's figure as its bar: Zarr
#       must be no slower than the uncompressed .h5ad; BENCH_ZARR=0 skips it;
#   (e) (a)-(c) on a 1 000 000-cell x 2 000-gene x 1 000 values/cell variant
#       (8.6 GB, generated in a few minutes) when BENCH_1M=1 and the disk has
#       room; otherwise the table says it was skipped and why.
#
# Output: the table on stdout (progress on stderr), the same table in Markdown
# in build/bench/results.md (for the README), the daemons' logs and wrk's
# output in build/bench/*.log. Mounts, cache dirs and copies live in a
# temporary directory that is removed at the end, also on failure or Ctrl-C.
# Needs root (nginx workers run as www-data and read the mount through
# allow_other), FUSE, nginx, wrk, curl and /usr/bin/python3: `make bench`
# installs them and builds ./cellucidfs, build/gen-h5ad and build/deflate-floor
# first.
#
# Environment:
#   BENCH_1M=1                 also run (e)
#   BENCH_ZARR=0               skip (z)
#   BENCH_CELLS, BENCH_GENES, BENCH_PER_CELL, BENCH_SEED
#                              the main dataset (100000, 20000, 800, 3); a
#                              small one gives a quick trial run
#   BENCH_1M_CELLS, BENCH_1M_GENES, BENCH_1M_PER_CELL
#                              the variant (1000000, 2000, 1000)
#   BENCH_WRK_SECONDS          length of each wrk run (20)
#   BENCH_RUNS                 runs of (a) warm and of (c), the median in the table (3)
#   BENCH_PORT                 first port tried for nginx (18180)
#   BENCH_TMPDIR               where the temporary directory (cache dirs,
#                              mountpoints) goes ($TMPDIR or /tmp)
#   BENCH_COPYDIR              where (c) copies the mount (/dev/shm when it
#                              is a RAM file system with room, else the
#                              temporary directory)
#   CELLUCIDFS_BIN             the binary (./cellucidfs)
#
# A run on the project's 2-core machine (the main dataset shown; the
# copy went to /dev/shm, the cache_dir to /tmp on ext4):
#
#   $ BENCH_1M=1 make bench
#   bench: main: (a) viewer-ready, empty cache_dir
#   ...
#   cellucidfs bench — 100 000 cells × 20 000 genes × 800 values/cell (700 MB), 2 cores
#   measure                                   cellucidfs     reference (Python)                   bar       met
#   (a) viewer-ready, empty cache_dir         0.76 s         4.0 s (server) / 64.2 s (prepare)    ≤ 2 s     yes
#   (a) viewer-ready, warm cache_dir          0.12 s         4.0 s (server, every start)          ≤ 0.3 s   yes
#   (b) first gene read, p50                  0.7 ms         3.35 s (server, median)              ≤ 5 ms    yes
#   (b) first gene read, p99                  4.5 ms         4.0 s (server, slowest)              ≤ 50 ms   yes
#   (b) first gene read, max                  846 ms         4.0 s (server, slowest)
#   (c) cp -r of the mount, wall time         8.43 s         64.2 s (prepare)                     ≤ 10 s    yes
#   (c) daemon peak RSS, cp -r                806 MB         2.3 GB (prepare) / 1.4 GB (server)   ≤ 1 GB    yes
#   (c) floor: libdeflate alone, same files   5.78 s         —
#   (d) nginx, gene files from the mount      27 947 req/s   —
#   (d) nginx, same files, plain directory    27 574 req/s   —
#   (d) mount / plain directory               101 %          —                                    ≥ 80 %    yes
#     note: main (a) warm: runs 0.119, 0.121, 0.117 s; the table shows the median
#     note: main (c): cp -r runs 8.58, 8.43, 8.43 s; the table shows the median
#     note: main: daemon peak RSS after (c) and (d) together: 806 MB
#   bench: Markdown table: build/bench/results.md; logs: build/bench/*.log
set -euo pipefail
export LC_ALL=C.UTF-8   # ${#s} counts characters (the table has × and ≤)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CELLUCIDFS_BIN:-$ROOT/cellucidfs}
GEN=$ROOT/build/gen-h5ad
FLOOR=$ROOT/build/deflate-floor
PY=/usr/bin/python3
PROBE=$ROOT/scripts/bench/probe.py
WRK_LUA=$ROOT/scripts/bench/random_genes.lua
DATA_DIR=$ROOT/build/data
OUT=$ROOT/build/bench

CELLS=${BENCH_CELLS:-100000}
GENES=${BENCH_GENES:-20000}
PER_CELL=${BENCH_PER_CELL:-800}
SEED=${BENCH_SEED:-3}
BIG=${BENCH_1M:-0}
ZARR=${BENCH_ZARR:-1}
BIG_CELLS=${BENCH_1M_CELLS:-1000000}
BIG_GENES=${BENCH_1M_GENES:-2000}
BIG_PER_CELL=${BENCH_1M_PER_CELL:-1000}
WRK_SECONDS=${BENCH_WRK_SECONDS:-20}
FIRST_PORT=${BENCH_PORT:-18180}
GENE_SAMPLE=200
RUNS=${BENCH_RUNS:-3}

say() { echo "bench: $*" >&2; }
# shellcheck source=scripts/bench/variants.sh
source "$ROOT/scripts/bench/variants.sh"
die() { echo "bench: $*" >&2; exit 1; }

# --- state, and cleaning it up ------------------------------------------------

TMP=             # the temporary directory
COPY=            # where (c) copies the mount (see copy_base)
DAEMON_PID=      # the cellucidfs daemon now running, and its mountpoint
DAEMON_MNT=
NGINX_PREFIX=    # nginx's prefix directory while it runs
declare -A R     # measured values by "<dataset>.<measure>"; absent: not measured
NOTES=()         # lines printed under the table

# alive PID: running, and not a zombie.
alive() {
	local state
	state=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) && [ "$state" != Z ]
}

# mounted: is anything on DAEMON_MNT? (findmnt also sees the mount of a
# daemon that died, which mountpoint(1) cannot stat.)
mounted() { findmnt -rn --mountpoint "$DAEMON_MNT" >/dev/null 2>&1; }

cleanup() {
	stop_nginx
	stop_daemon || true
	# --one-file-system: never descend into a mount that would not go away.
	[ -z "$TMP" ] || rm -rf --one-file-system "$TMP"
	[ -z "$COPY" ] || rm -rf --one-file-system "$COPY"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the daemon -----------------------------------------------------------------

# mark LOG TEXT: a time-stamped line in a daemon's log, so that what it
# says can be told apart by step.
mark() { echo "--- $(date +%T) $2" >>"$1"; }

# start_daemon DATA MNT LOG OPTIONS STEP: cellucidfs in the foreground, in
# the background, so its pid (for VmHWM) and exit status are ours.
start_daemon() {
	mkdir -p "$2"
	mark "$3" "$5: mount ${1##*/} -o $4"
	"$BIN" "$1" "$2" -f -o "$4" </dev/null >>"$3" 2>&1 &
	DAEMON_PID=$! DAEMON_MNT=$2
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

# --- nginx ----------------------------------------------------------------------

run_nginx() { nginx -p "$NGINX_PREFIX/" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log" "$@"; }

# free_port: the first port from FIRST_PORT nothing listens on.
free_port() {
	local p
	for ((p = FIRST_PORT; p < FIRST_PORT + 100; p++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	die "no free port in $FIRST_PORT-$((FIRST_PORT + 99)) (set BENCH_PORT)"
}

# start_nginx ROOT PORT: the shipped server block serving ROOT, its master
# as root, its workers as www-data (as a real deployment runs it).
start_nginx() {
	local i
	NGINX_PREFIX=$TMP/nginx
	rm -rf "$NGINX_PREFIX"
	mkdir -p "$NGINX_PREFIX/tmp"
	bash "$ROOT/scripts/demo.sh" conf "$1" "$2" "$NGINX_PREFIX" >"$NGINX_PREFIX/nginx.conf"
	if ! run_nginx 2>/dev/null; then
		say "nginx did not start: $(tail -n 2 "$NGINX_PREFIX/error.log" 2>/dev/null)"
		NGINX_PREFIX=
		return 1
	fi
	for ((i = 0; i < 100; i++)); do
		curl -fs -o /dev/null "http://127.0.0.1:$2/dataset_identity.json" && return 0
		sleep 0.1
	done
	say "nginx does not serve $1 on port $2: $(tail -n 2 "$NGINX_PREFIX/error.log")"
	return 1
}

stop_nginx() {
	local pid i=0
	[ -n "$NGINX_PREFIX" ] || return 0
	if pid=$(cat "$NGINX_PREFIX/nginx.pid" 2>/dev/null) && alive "$pid"; then
		run_nginx -s quit 2>/dev/null || kill -QUIT "$pid"
		while alive "$pid" && [ "$i" -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if alive "$pid"; then kill -TERM "$pid"; fi
	fi
	NGINX_PREFIX=
}

# serve_rate KEY MEASURE ROOT LIST WHAT: R[KEY.MEASURE] = nginx's requests/s
# for the paths in LIST under ROOT (WHAT, in the logs). Every response must be a 200, and nginx's
# error log must stay free of alerts (its sign of a file that changed size).
# wrk's report goes to build/bench/KEY-wrk.log.
serve_rate() {
	local port out bad log=$OUT/$1-wrk.log
	port=$(free_port)
	if ! start_nginx "$3" "$port"; then
		R[$1.$2]=error
		stop_nginx
		return 0
	fi
	mark "$log" "(d) wrk on $5 ($3)"
	mark "$OUT/$1.log" "(d) nginx + wrk on $5"
	if ! out=$(wrk -t2 -c16 -d"${WRK_SECONDS}s" -s "$WRK_LUA" "http://127.0.0.1:$port" -- "$4" "$SEED" 2>&1); then
		echo "$out" >>"$log"
		R[$1.$2]=error
		stop_nginx
		return 0
	fi
	echo "$out" >>"$log"
	if grep -E '\[(alert|crit|emerg)\]|truncated' "$NGINX_PREFIX/error.log" >>"$log"; then
		NOTES+=("$1 (d) on $5: nginx logged alerts (see ${log#"$ROOT"/})")
	fi
	stop_nginx
	bad=$(awk '/^Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
	if [ -n "$bad" ]; then
		NOTES+=("$1 (d) on $5: $bad responses were not 200 (see ${log#"$ROOT"/})")
		R[$1.$2]=error
		return 0
	fi
	if grep -q '^  Socket errors:' <<<"$out"; then
		NOTES+=("$1 (d) on $5: wrk:$(grep '^  Socket errors:' <<<"$out" | sed 's/^ *Socket errors//')")
	fi
	R[$1.$2]=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
}

# --- datasets -----------------------------------------------------------------

# dataset_path CELLS GENES PER_CELL: where that dataset (seed SEED) is kept.
dataset_path() {
	case "$1/$2/$3/$SEED" in
	100000/20000/800/3) echo "$DATA_DIR/bench-100k.h5ad" ;;
	1000000/2000/1000/3) echo "$DATA_DIR/bench-1m.h5ad" ;;
	*) echo "$DATA_DIR/bench-$1c-$2g-$3k-s$SEED.h5ad" ;;
	esac
}

# X (float32 value + int32 index per stored value) plus about 600 bytes a
# cell of obs, obsm and obsp: gen-h5ad's output size, give or take a few %.
data_bytes() { echo $(($1 * $3 * 8 + $1 * 600)); }

# Disk the runs of one dataset need at most: the gene index (its scratch
# file and the merged copy, 8 bytes per stored value each) and, twice (cache
# and copy), every gene file uncompressed (one byte per cell and gene).
work_bytes() { echo $((2 * $1 * $3 * 8 + 2 * $1 * $2 + (1 << 30))); }

avail_bytes() { df --output=avail -B1 "$1" | tail -n 1 | tr -d ' '; }

# copy_base BYTES: where (c)'s copy goes - BENCH_COPYDIR when set, else
# /dev/shm when it is a RAM file system with BYTES free, else TMP. In RAM
# the figure is the mount's speed, not the destination's: on this machine's
# ext4 (mounted with discard), cp alone spent 0.6-4 s of system time
# creating the 20 022 files after the previous run's copy was removed.
copy_base() {
	if [ -n "${BENCH_COPYDIR:-}" ]; then
		echo "$BENCH_COPYDIR"
	elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
		[ "$(avail_bytes /dev/shm)" -gt "$1" ]; then
		echo /dev/shm
	else
		echo "$TMP"
	fi
}

gb() { awk -v b="$1" 'BEGIN { printf "%.1f GB", b / 1e9 }'; }

# room CELLS GENES PER_CELL DATA: empty when the disk has room for the
# dataset and its runs, else why not.
room() {
	local need_data=0 need_tmp
	[ -s "$4" ] || need_data=$(data_bytes "$1" "$2" "$3")
	need_tmp=$(work_bytes "$1" "$2" "$3")
	if [ "$(df --output=target "$DATA_DIR" | tail -n 1)" = "$(df --output=target "$TMP" | tail -n 1)" ]; then
		need_tmp=$((need_tmp + need_data)) need_data=0
	fi
	if [ "$need_data" -gt "$(avail_bytes "$DATA_DIR")" ]; then
		echo "needs $(gb "$need_data") free in $DATA_DIR, has $(gb "$(avail_bytes "$DATA_DIR")")"
	elif [ "$need_tmp" -gt "$(avail_bytes "$TMP")" ]; then
		echo "needs $(gb "$need_tmp") free in $TMP, has $(gb "$(avail_bytes "$TMP")")"
	fi
}

# generate CELLS GENES PER_CELL DATA: make the dataset unless it is there
# (gen-h5ad writes DATA.part and renames it, so DATA is always complete).
generate() {
	local t0
	[ -s "$4" ] && return 0
	say "generating $4 ($1 cells x $2 genes x $3 values/cell)"
	t0=$EPOCHREALTIME
	"$GEN" --cells "$1" --genes "$2" --per-cell "$3" --seed "$SEED" "$4" >&2
	NOTES+=("generated ${4#"$ROOT"/} in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s")
}

# to_zarr DATA ZDATA: the Zarr copy of DATA, unless it is there.
to_zarr() {
	local t0
	[ -d "$2" ] && return 0
	say "writing $2 (write_zarr, Blosc-lz4)"
	t0=$EPOCHREALTIME
	"$PY" "$ROOT/scripts/bench/to_zarr.py" "$1" "$2" >&2 || return 1
	NOTES+=("wrote ${2#"$ROOT"/} in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s")
}

# --- the measurements -----------------------------------------------------------

# ready KEY MEASURE DATA MNT CACHE LOG: R[KEY.MEASURE] = seconds from starting
# the daemon to the viewer's first files read; the mount stays up.
ready() {
	local t0 out secs files bytes
	settle "$3"
	t0=$EPOCHREALTIME
	start_daemon "$3" "$4" "$6" "cache_dir=$5" "(a) ${2#ready_} cache_dir"
	if out=$("$PY" "$PROBE" ready "$4" "$t0" "$DAEMON_PID" 2>>"$6"); then
		read -r secs files bytes <<<"$out"
		R[$1.$2]=$secs
		say "$1: viewer-ready in $secs s ($files files, $bytes bytes)"
	else
		R[$1.$2]=error
		say "$1: viewer-ready failed (log: $6)"
	fi
}

# settle DATA: write back what earlier steps left dirty (a merged gene index
# is 8 bytes per stored value), so that the disk's work does not land in the
# next timed step; then read DATA into the page cache, last thing before the
# step, and twice: pages read twice move to the kernel's active list, where
# the daemon's own streaming writes (the 1M variant's scratch file and merged
# index, 8 GB each) do not push them out. Once was not enough: a bench run's
# 1M scan read a tenth of X at 50 MB/s, the disk's pace.
settle() {
	sync
	if [ -d "$1" ]; then  # a Zarr store: all its files
		find "$1" -type f -exec cat {} + >/dev/null
		find "$1" -type f -exec cat {} + >/dev/null
	else
		cat "$1" "$1" >/dev/null
	fi
}

# median V...: the middle value (the lower of the two middle ones).
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# warm_runs KEY DATA MNT LOG: (a) with the warm cache_dir, RUNS remounts;
# R[KEY.ready_warm] is the median, the runs go to the notes.
warm_runs() {
	local key=$1 run secs=()
	for ((run = 1; run <= RUNS; run++)); do
		say "$key: (a) viewer-ready, warm cache_dir (run $run of $RUNS)"
		ready "$key" ready_warm "$2" "$3" "$TMP/cache-a" "$4"
		unmount "$key" "(a) warm"
		[ "${R[$key.ready_warm]}" != error ] || return 0
		secs+=("${R[$key.ready_warm]}")
	done
	R[$key.ready_warm]=$(median "${secs[@]}")
	NOTES+=("$key (a) warm: runs $(sed 's/ /, /g' <<<"${secs[*]}") s; the table shows the median")
}

# copy_runs KEY DATA MNT LOG: (c), RUNS times, each time a fresh mount
# with an empty cache_dir whose cp -r starts as soon as it appears; the last
# mount stays up for (d). R[KEY.cp_seconds] is the median wall time (a
# 2-core VM's speed drifts by 10 % from one minute to the next), the runs go
# to the notes; R[KEY.cp_rss_kb] is the highest peak RSS. Then the floor:
# libdeflate alone making the same gene files again (build/deflate-floor),
# and the daemon's own encoder doing it, with its size against zlib's.
copy_runs() {
	local key=$1 data=$2 mnt=$3 log=$4 run t0 secs=() rss=0 out name took files bytes differ
	for ((run = 1; run <= RUNS; run++)); do
		say "$key: (c) cp -r of a fresh mount, empty cache_dir (run $run of $RUNS)"
		[ "$run" -eq 1 ] || unmount "$key" "(c)"
		rm -rf "$TMP/cache-c" "$COPY/copy"
		settle "$data"
		start_daemon "$data" "$mnt" "$log" "cache_dir=$TMP/cache-c,allow_other,default_permissions" "(c)"
		wait_mount "$log" || break
		mark "$log" "(c) cp -r, run $run"
		t0=$EPOCHREALTIME
		if ! cp -r "$mnt" "$COPY/copy" 2>>"$log"; then
			say "$key: cp -r failed (log: $log)"
			secs=()
			break
		fi
		secs+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')")
		[ "$(peak_rss_kb)" -le "$rss" ] || rss=$(peak_rss_kb)
		say "$key: cp -r in ${secs[-1]} s ($(du -sh "$COPY/copy" | cut -f1)), daemon peak RSS $(peak_rss_kb) kB"
	done
	if [ "${#secs[@]}" -lt "$RUNS" ]; then
		R[$key.cp_seconds]=error R[$key.cp_rss_kb]=error
		return 0
	fi
	R[$key.cp_seconds]=$(median "${secs[@]}")
	R[$key.cp_rss_kb]=$rss
	NOTES+=("$key (c): cp -r runs $(sed 's/ /, /g' <<<"${secs[*]}") s; the table shows the median")
	say "$key: (c) floor: the gene files made again by cellucidfs's encoder, libdeflate and zlib at level 6, $(nproc) threads"
	if out=$("$FLOOR" 6 "$COPY/copy/var" 2>>"$log"); then
		# encoder seconds MB/s files bytes_in bytes_out differ
		while read -r name took _ files _ bytes differ; do
			case $name in
			cellucidfs)
				R[$key.own_seconds]=$took R[$key.own_bytes]=$bytes
				[ "$differ" -eq 0 ] ||
					NOTES+=("$key (c) floor: $differ of $files gene files differ from what cellucidfs's encoder makes of them") ;;
			libdeflate) R[$key.floor_seconds]=$took ;;
			zlib) R[$key.zlib_bytes]=$bytes ;;
			esac
		done <<<"$out"
	else
		R[$key.floor_seconds]=error R[$key.own_seconds]=error R[$key.own_bytes]=error
	fi
}

# bench_dataset KEY DATA SERVE: (a)-(c), and (d) when SERVE is 1.
bench_dataset() {
	local key=$1 data=$2 serve=$3 log=$OUT/$1.log mnt=$TMP/mnt out list
	local p50 p99 max n bytes first
	: >"$log"
	[ "$serve" != 1 ] || : >"$OUT/$key-wrk.log"

	say "$key: (a) viewer-ready, empty cache_dir"
	ready "$key" ready_empty "$data" "$mnt" "$TMP/cache-a" "$log"
	if mountpoint -q "$mnt"; then
		say "$key: (b) first reads of $GENE_SAMPLE random genes"
		mark "$log" "(b) first reads of $GENE_SAMPLE random genes"
		if out=$("$PY" "$PROBE" genes "$mnt" "$GENE_SAMPLE" "$SEED" 2>>"$log"); then
			read -r p50 p99 max n bytes <<<"$out"
			R[$key.gene_p50]=$p50 R[$key.gene_p99]=$p99 R[$key.gene_max]=$max
			say "$key: $n genes: p50 $p50 ms, p99 $p99 ms, max $max ms"
		else
			R[$key.gene_p50]=error R[$key.gene_p99]=error R[$key.gene_max]=error
		fi
		wait_index "$TMP/cache-a" "$log" 1800 ||
			NOTES+=("$key: the gene index never reached the cache_dir, so (a) warm had to rebuild it")
	fi
	unmount "$key" "(a) empty"

	warm_runs "$key" "$data" "$mnt" "$log"
	rm -rf "$TMP/cache-a"

	copy_runs "$key" "$data" "$mnt" "$log"
	if mounted; then
		if [ "$serve" = 1 ] && [ "${R[$key.cp_seconds]}" != error ]; then
			list=$TMP/genes.list
			find "$COPY/copy/var" -type f -printf '/var/%f\n' | sort >"$list"
			say "$key: (d) nginx + wrk on the mount (${WRK_SECONDS} s)"
			serve_rate "$key" rps_mount "$mnt" "$list" "the mount"
			say "$key: (d) nginx + wrk on the plain copy (${WRK_SECONDS} s)"
			serve_rate "$key" rps_plain "$COPY/copy" "$list" "the plain copy"
			say "$key: nginx: ${R[$key.rps_mount]} req/s from the mount, ${R[$key.rps_plain]} from the copy"
			NOTES+=("$key: daemon peak RSS after (c) and (d) together: $(fmt kb "$(peak_rss_kb)")")
		fi
	fi
	unmount "$key" "(c)"
	rm -rf "$TMP/cache-c" "$COPY/copy"

	# Anything but progress reports is worth a note, with the step it came in.
	n=$(grep -c -v -E '^(---|cellucidfs: (prefetch|gene index): )' "$log" || true)
	if [ "$n" -gt 0 ]; then
		first=$(awk '/^---/ { step = substr($0, 14); next }
			!/^cellucidfs: (prefetch|gene index): / { print "in \"" step "\": " $0; exit }' "$log")
		NOTES+=("$key: $n warnings or errors in build/bench/$key.log, the first $first")
	fi
	# The log, with the step markers, less the gene index's every-10 % lines.
	grep -v -E '^cellucidfs: gene index: scanned [0-9]+%' "$log" >"$TMP/log" || true
	if grep -v -q '^---' "$TMP/log"; then
		say "$key: the daemons said (build/bench/$key.log):"
		head -n 40 "$TMP/log" | sed 's/^/    /' >&2
		[ "$(wc -l <"$TMP/log")" -le 40 ] || say "    ... $(($(wc -l <"$TMP/log") - 40)) more lines"
	fi
}

# --- the table ------------------------------------------------------------------

TABLE=()   # rows, each "measure|cellucidfs|reference|bar|met"

# fmt KIND VALUE: a measured value with its unit.
fmt() {
	case "$2" in error | "") echo "${2:-not measured}"; return ;; esac
	case "$1" in
	s) awk -v v="$2" 'BEGIN { printf(v < 10 ? "%.2f s" : "%.1f s", v) }' ;;
	ms) awk -v v="$2" 'BEGIN { printf(v < 100 ? "%.1f ms" : "%.0f ms", v) }' ;;
	kb) awk -v v="$2" 'BEGIN { b = v * 1024; printf(b < 1e9 ? "%.0f MB" : "%.2f GB", b < 1e9 ? b / 1e6 : b / 1e9) }' ;;
	rps) echo "$(group "$(awk -v v="$2" 'BEGIN { printf "%.0f", v }')") req/s" ;;
	pct) awk -v v="$2" 'BEGIN { printf "%.0f %%", v }' ;;
	esac
}

# met VALUE OP LIMIT: yes/NO against the bar, empty without a value.
met() {
	case "$1" in error | "") return ;; esac
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = op == "le" ? v <= l : v >= l; print(ok ? "yes" : "NO") }'
}

# row MEASURE KIND VALUE REFERENCE [BAR OP LIMIT]; TABLE rows starting with #
# are section headings.
row() {
	local verdict=""
	[ $# -lt 7 ] || verdict=$(met "$3" "$6" "$7")
	TABLE+=("$1|$(fmt "$2" "$3")|$4|${5:-}|$verdict")
}

# ratio A B: 100 * A / B; "error" or nothing when either is.
ratio() {
	case "$1/$2" in
	*error*) echo error ;;
	?*/?*) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }' ;;
	esac
}

# rows KEY BARS: the rows of one dataset, with the bars (and the reference
# figures) of the issue's 100k dataset or of the 1M variant.
rows() {
	local k=$1
	if [ "$2" = 100k ]; then
		row "(a) viewer-ready, empty cache_dir" s "${R[$k.ready_empty]:-}" "4.0 s (server) / 64.2 s (prepare)" "≤ 2 s" le 2
		row "(a) viewer-ready, warm cache_dir" s "${R[$k.ready_warm]:-}" "4.0 s (server, every start)" "≤ 0.3 s" le 0.3
		row "(b) first gene read, p50" ms "${R[$k.gene_p50]:-}" "3.35 s (server, median)" "≤ 5 ms" le 5
		row "(b) first gene read, p99" ms "${R[$k.gene_p99]:-}" "4.0 s (server, slowest)" "≤ 50 ms" le 50
		row "(b) first gene read, max" ms "${R[$k.gene_max]:-}" "4.0 s (server, slowest)"
		row "(c) cp -r of the mount, wall time" s "${R[$k.cp_seconds]:-}" "64.2 s (prepare)" "≤ 10 s" le 10
		# 1 GB = 976 563 kB
		row "(c) daemon peak RSS, cp -r" kb "${R[$k.cp_rss_kb]:-}" "2.3 GB (prepare) / 1.4 GB (server)" "≤ 1 GB" le 976563
		row "(c) floor: libdeflate alone, same files" s "${R[$k.floor_seconds]:-}" "—"
		gene_rows "$k"
		row "(d) nginx, gene files from the mount" rps "${R[$k.rps_mount]:-}" "—"
		row "(d) nginx, same files, plain directory" rps "${R[$k.rps_plain]:-}" "—"
		row "(d) mount / plain directory" pct "$(ratio "${R[$k.rps_mount]:-}" "${R[$k.rps_plain]:-}")" "—" "≥ 80 %" ge 80
	else
		row "(a) viewer-ready, empty cache_dir" s "${R[$k.ready_empty]:-}" "—" "≤ 30 s" le 30
		row "(a) viewer-ready, warm cache_dir" s "${R[$k.ready_warm]:-}" "—" "≤ 1 s" le 1
		row "(b) first gene read, p50" ms "${R[$k.gene_p50]:-}" "—"
		row "(b) first gene read, p99" ms "${R[$k.gene_p99]:-}" "—"
		row "(b) first gene read, max" ms "${R[$k.gene_max]:-}" "—"
		row "(c) cp -r of the mount, wall time" s "${R[$k.cp_seconds]:-}" "—"
		# 4 GB = 3 906 250 kB
		row "(c) daemon peak RSS, cp -r" kb "${R[$k.cp_rss_kb]:-}" "—" "≤ 4 GB" le 3906250
		row "(c) floor: libdeflate alone, same files" s "${R[$k.floor_seconds]:-}" "—"
		gene_rows "$k"
	fi
}

# gene_rows KEY: what the daemon's own gene encoder (codec/gzrle.c) costs and
# writes, beside libdeflate's floor and zlib level 6's size (the reference's).
gene_rows() {
	row "(c) cellucidfs's gene encoder alone, same files" s "${R[$1.own_seconds]:-}" "—"
	row "(c) its gene files / zlib level 6's, bytes" pct "$(ratio "${R[$1.own_bytes]:-}" "${R[$1.zlib_bytes]:-}")" "100 % (prepare)" "≤ 100 %" le 100
}

# zarr_rows: (z)'s rows, each with the .h5ad's figure as its bar (no slower;
# no larger for the RSS).
zarr_rows() {
	local m k v
	for m in "ready_empty|s|(a) viewer-ready, empty cache_dir" "ready_warm|s|(a) viewer-ready, warm cache_dir" \
		"cp_seconds|s|(c) cp -r of the mount, wall time" "cp_rss_kb|kb|(c) daemon peak RSS, cp -r"; do
		IFS='|' read -r k v m <<<"$m"
		case "${R[main.$k]:-error}" in
		error) row "$m" "$v" "${R[zarr.$k]:-}" "—" ;;
		*) row "$m" "$v" "${R[zarr.$k]:-}" "—" "≤ .h5ad's $(fmt "$v" "${R[main.$k]}")" le "${R[main.$k]}" ;;
		esac
	done
}

# pad TEXT WIDTH
pad() { printf '%s%*s' "$1" $(($2 - ${#1})) ""; }

# print_table TITLE: the rows as text (stdout) and as Markdown (results.md).
print_table() {
	local head="measure|cellucidfs|reference (Python)|bar|met" r f w=(0 0 0 0 0) i line md
	for r in "$head" "${TABLE[@]}"; do
		[ "${r:0:1}" != "#" ] || continue
		IFS='|' read -r -a f <<<"$r|"
		for i in 0 1 2 3 4; do
			[ "${#f[i]}" -le "${w[i]}" ] || w[i]=${#f[i]}
		done
	done
	md="### \`$COMMAND\` — ${1#cellucidfs bench — }"$'\n\n'
	md+="| measure | cellucidfs | reference (Python) | bar | met |"$'\n'"| --- | --- | --- | --- | --- |"$'\n'
	echo
	echo "$1"
	for r in "$head" "${TABLE[@]}"; do
		if [ "${r:0:1}" = "#" ]; then
			echo "${r:1}"
			md+="| **${r:1}** | | | | |"$'\n'
			continue
		fi
		IFS='|' read -r -a f <<<"$r|"
		line=""
		for i in 0 1 2 3; do line+="$(pad "${f[i]}" "${w[i]}")   "; done
		echo "${line}${f[4]}" | sed 's/ *$//'
		[ "$r" = "$head" ] || md+="| ${f[0]} | ${f[1]} | ${f[2]} | ${f[3]} | ${f[4]} |"$'\n'
	done
	for line in "${NOTES[@]}"; do
		echo "  note: $line"
		md+=$'\n'"- $line"
	done
	printf '%s\n' "$md" >"$OUT/results.md"
}

# group N: 1000000 -> "1 000 000"
group() { sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\| \)/\1 \2\3/; ta' <<<"$1"; }

# describe CELLS GENES PER_CELL DATA
describe() {
	echo "$(group "$1") cells × $(group "$2") genes × $(group "$3") values/cell ($(awk -v b="$(stat -c %s "$4")" 'BEGIN { printf(b < 1e9 ? "%.0f MB" : "%.1f GB", b < 1e9 ? b / 1e6 : b / 1e9) }'))"
}

# --- main -------------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || die "run as root (nginx's workers read the mount as www-data through allow_other)"
for tool in "$BIN" "$GEN" "$FLOOR"; do
	[ -x "$tool" ] || die "$tool is missing (make bench builds it)"
done
for tool in nginx wrk curl fusermount3 "$PY"; do
	command -v "$tool" >/dev/null || die "$tool is not installed (make deps installs it)"
done
[ -c /dev/fuse ] || die "FUSE is not available here (no /dev/fuse)"

COMMAND=""   # what produced the table, for results.md
for v in BENCH_1M BENCH_ZARR BENCH_CELLS BENCH_GENES BENCH_PER_CELL BENCH_SEED BENCH_1M_CELLS BENCH_1M_GENES \
	BENCH_1M_PER_CELL BENCH_WRK_SECONDS BENCH_RUNS; do
	[ -z "${!v:-}" ] || COMMAND+="$v=${!v} "
done
COMMAND+="make bench"

mkdir -p "$DATA_DIR" "$OUT"
TMP=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/cellucidfs-bench.XXXXXX")
chmod 755 "$TMP"   # nginx's workers (www-data) go through it
d=$TMP
while [ "$d" != / ]; do
	[ $(($(stat -c %a "$d") % 2)) -eq 1 ] ||
		die "www-data cannot reach $TMP: no o+x on $d (chmod o+x it, or set BENCH_TMPDIR)"
	d=$(dirname "$d")
done
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# Room for every gene file uncompressed, plus 1 GB, of the largest dataset.
copy_bytes=$((CELLS * GENES + (1 << 30)))
[ "$BIG" != 1 ] || [ $((BIG_CELLS * BIG_GENES)) -le $((CELLS * GENES)) ] ||
	copy_bytes=$((BIG_CELLS * BIG_GENES + (1 << 30)))
COPY=$(mktemp -d "$(copy_base "$copy_bytes")/cellucidfs-copy.XXXXXX")
chmod 755 "$COPY"
NOTES+=("(c) copies to $(df --output=fstype "$COPY" | tail -n 1) ($(dirname "$COPY")), the cache_dir is in $(df --output=fstype "$TMP" | tail -n 1) ($(dirname "$TMP"))")

DATA=$(dataset_path "$CELLS" "$GENES" "$PER_CELL")
why=$(room "$CELLS" "$GENES" "$PER_CELL" "$DATA")
[ -z "$why" ] || die "not enough disk: $why"
generate "$CELLS" "$GENES" "$PER_CELL" "$DATA"
bench_dataset main "$DATA" 1
TITLE="cellucidfs bench — $(describe "$CELLS" "$GENES" "$PER_CELL" "$DATA"), $(nproc) cores"
[ "$CELLS/$GENES/$PER_CELL" = 100000/20000/800 ] ||
	NOTES+=("this is not the issue's dataset: the reference figures and bars are for 100 000 × 20 000 × 800")
rows main 100k
bench_variants

ZDATA=${DATA%.h5ad}.zarr
if [ "$ZARR" != 1 ]; then
	TABLE+=("#(z) the same as Zarr: skipped (BENCH_ZARR=0)")
elif [ "$(data_bytes "$CELLS" "$GENES" "$PER_CELL")" -gt "$(avail_bytes "$DATA_DIR")" ] && [ ! -d "$ZDATA" ]; then
	TABLE+=("#(z) the same as Zarr: skipped (no room for the store in $DATA_DIR)")
elif ! to_zarr "$DATA" "$ZDATA"; then
	TABLE+=("#(z) the same as Zarr: skipped (scripts/bench/to_zarr.py failed)")
else
	bench_dataset zarr "$ZDATA" 0
	TABLE+=("#(z) the same as Zarr (write_zarr, Blosc-lz4; $(du -sh "$ZDATA" | cut -f1))")
	zarr_rows
fi

BIG_DATA=$(dataset_path "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL")
BIG_TITLE="$(group "$BIG_CELLS") cells × $(group "$BIG_GENES") genes × $(group "$BIG_PER_CELL") values/cell"
if [ "$BIG" != 1 ]; then
	TABLE+=("#(e) $BIG_TITLE: skipped (set BENCH_1M=1)")
elif why=$(room "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL" "$BIG_DATA") && [ -n "$why" ]; then
	TABLE+=("#(e) $BIG_TITLE: skipped ($why)")
else
	generate "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL" "$BIG_DATA"
	bench_dataset big "$BIG_DATA" 0
	TABLE+=("#(e) $(describe "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL" "$BIG_DATA")")
	rows big 1m
	[ "$BIG_GENES/$BIG_PER_CELL" != 2000/1000 ] ||
		NOTES+=("(e) has 2 000 genes: 1 000 values per cell need at least 1 000, and 2 000 is the usual highly-variable-gene selection (X half dense)")
fi
NOTES+=("load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)")
print_table "$TITLE"
say "Markdown table: ${OUT#"$ROOT"/}/results.md; logs: ${OUT#"$ROOT"/}/*.log"
