# shellcheck shell=bash
# scripts/bench/steps.sh - sourced by scripts/bench.sh: the timed steps.
# Each takes a run count and a list of keys - a key is one dataset read by
# one binary (SRC[KEY], EXE[KEY]; its daemons log to build/bench/KEY.log) -
# and runs them interleaved: run 1 of every key, then run 2 of every key, so
# that the drift of a 2-core VM (10 % from one minute to the next) and other
# work hit every key alike. R[KEY.MEASURE] is the median of the runs (the
# lower middle one of an even count), the runs go to the notes. A timed
# step that takes longer than LIMIT[KEY] seconds is cut, its daemon killed,
# and the key's later steps skipped: its figures read "timeout".
#
#   cold_runs 2 main base zarr   # R[main.ready_empty]; with WARM[main]: (b)
#   warm_runs 3 main base zarr   # R[main.ready_warm]
#   copy_runs 3 main base        # R[main.cp_seconds], cp_rss_kb; SERVE[main]: (d)
#   floor main                   # R[main.floor_seconds], zlib_bytes, served_bytes
#   export_runs 2 main gzip      # R[main.export], export_cpu

declare -A RUNS_OF   # "KEY.MEASURE" -> the runs' values, space-separated
declare -A GAVE_UP   # KEY -> the step that took longer than LIMIT[KEY]
declare -A NO_MOUNT  # KEY -> why its daemon exited before mounting: its later steps are skipped
LIMITED_PIDS=        # what limited is waiting for (cleanup ends them)
READY_T0=            # when ready started its daemon ($EPOCHREALTIME)
READY_SECS=          # what ready measured, or error

# median V...
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# elapsed T0: seconds since T0 ($EPOCHREALTIME), as 1.23.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# keep KEY MEASURE VALUE: one more run's value.
keep() { RUNS_OF[$1.$2]+="${RUNS_OF[$1.$2]:+ }$3"; }

# settled KEY MEASURE N WHAT [MORE]: R[KEY.MEASURE] = the median of the N
# runs kept, error when fewer succeeded, timeout when the key was given up;
# with more than one, a note lists them (and MORE).
settled() {
	local -a v
	read -r -a v <<<"${RUNS_OF[$1.$2]:-}"
	if [ "${#v[@]}" -eq "$3" ] && [ "$3" -gt 0 ]; then
		R[$1.$2]=$(median "${v[@]}")
	elif [ -n "${GAVE_UP[$1]:-}" ] && [ -z "${NO_MOUNT[$1]:-}" ]; then
		R[$1.$2]=timeout
	else
		R[$1.$2]=error
	fi
	[ "$3" -le 1 ] || [ "${#v[@]}" -eq 0 ] || NOTES+=("$1 $4: runs $(sed 's/ /, /g' <<<"${v[*]}") s${5:-}; the table shows the median")
}

# limited KEY STEP LOG CMD...: CMD (its output to TMP/out, its errors to
# LOG), cut after LIMIT[KEY] seconds; then KEY is given up (GAVE_UP[KEY] =
# STEP). LIMITED_WALL and LIMITED_CPU: CMD's wall and CPU seconds.
limited() {
	local status=0 pid sleeper done t0=$EPOCHREALTIME cpu0
	times >"$TMP/times"
	cpu0=$(children_cpu)
	"${@:4}" >"$TMP/out" 2>>"$3" &
	pid=$!
	sleep "${LIMIT[$1]}" &
	sleeper=$!
	LIMITED_PIDS="$pid $sleeper"
	wait -n -p done "$pid" "$sleeper" || status=$?
	LIMITED_PIDS=
	if [ "$done" = "$pid" ]; then
		kill "$sleeper" 2>/dev/null || true
		wait "$sleeper" 2>/dev/null || true
		LIMITED_WALL=$(elapsed "$t0")
		times >"$TMP/times"
		LIMITED_CPU=$(awk -v a="$cpu0" -v b="$(children_cpu)" 'BEGIN { printf "%.2f", b - a }')
		return "$status"
	fi
	# The daemon dies first: a reader blocked in a request the daemon has
	# taken cannot be killed until that request is answered.
	[ -z "$DAEMON_PID" ] || kill -KILL "$DAEMON_PID" 2>/dev/null || true
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	stop_daemon || true
	GAVE_UP[$1]=$2
	say "$1: $2 took over ${LIMIT[$1]} s: cut, and $1's later steps skipped"
	NOTES+=("$1: $2 took over ${LIMIT[$1]} s (BENCH_STEP_LIMIT): cut, and its later steps skipped")
	return 124
}

# children_cpu: the CPU seconds of the shell's reaped children, from the
# output of `times` in TMP/times (run in this shell, not a subshell).
children_cpu() {
	awk 'function sec(t) { split(t, a, "m"); return a[1] * 60 + a[2] }
		NR == 2 { print sec($1) + sec($2) }' "$TMP/times"
}

# ready KEY CACHE STEP: READY_SECS = seconds from starting the daemon to the
# viewer's first files read (scripts/bench/probe.py ready); the mount stays up.
ready() {
	local files bytes log=$OUT/$1.log
	settle "${SRC[$1]}"
	READY_T0=$EPOCHREALTIME
	start_daemon "${EXE[$1]}" "${SRC[$1]}" "$TMP/mnt" "$log" "cache_dir=$2" "$3"
	if limited "$1" "$3" "$log" "$PY" "$PROBE" ready "$TMP/mnt" "$READY_T0" "$DAEMON_PID"; then
		read -r READY_SECS files bytes <"$TMP/out"
		say "$1: viewer-ready in $READY_SECS s ($files files, $bytes bytes)"
	else
		READY_SECS=error
		say "$1: viewer-ready failed (log: $log)"
		# A source the daemon refuses is refused every time: say it once.
		if [ -n "$DAEMON_PID" ] && ! mounted && ! alive "$DAEMON_PID"; then
			NO_MOUNT[$1]=$(grep '^cellucidfs: ' "$log" | tail -n 1)
			GAVE_UP[$1]=$3
			NOTES+=("$1: the daemon exited before mounting, so its later steps were skipped: ${NO_MOUNT[$1]}")
		fi
	fi
}

# first_genes KEY: (b) on ready's mount, right after the viewer's files:
# GENE_SAMPLE random gene files read one by one; R[KEY.first_gene] is the
# time from the daemon's start to the end of the first of them.
first_genes() {
	local p50 p99 max n bytes first v
	say "$1: (b) first reads of $GENE_SAMPLE random genes"
	mark "$OUT/$1.log" "(b) first reads of $GENE_SAMPLE random genes"
	if limited "$1" "(b)" "$OUT/$1.log" "$PY" "$PROBE" genes "$TMP/mnt" "$GENE_SAMPLE" "$SEED" "$READY_T0"; then
		read -r p50 p99 max n bytes first <"$TMP/out"
		R[$1.gene_p50]=$p50 R[$1.gene_p99]=$p99 R[$1.gene_max]=$max R[$1.first_gene]=$first
		say "$1: $n genes: p50 $p50 ms, p99 $p99 ms, max $max ms; the first done $first s after the start"
	else
		v=error
		[ -z "${GAVE_UP[$1]:-}" ] || v=timeout
		R[$1.gene_p50]=$v R[$1.gene_p99]=$v R[$1.gene_max]=$v R[$1.first_gene]=$v
	fi
}

# cold_runs N KEY...: (a) with an empty cache_dir. On run 1 of a key in
# WARM, (b) follows on the same mount, and its cache_dir is kept, with the
# gene index merged into it, for warm_runs.
cold_runs() {
	local n=$1 run k cache
	shift
	for ((run = 1; run <= n; run++)); do
		for k; do
			[ -z "${GAVE_UP[$k]:-}" ] || continue
			cache=$TMP/cache-$k
			[ "$run" -eq 1 ] && [ -n "${WARM[$k]:-}" ] || cache=$TMP/cache-cold
			rm -rf "$cache"
			say "$k: (a) viewer-ready, empty cache_dir (run $run of $n)"
			ready "$k" "$cache" "(a) empty cache_dir, run $run"
			[ "$READY_SECS" = error ] || keep "$k" ready_empty "$READY_SECS"
			[ "$run" -gt 1 ] || R[$k.ready_first]=$READY_SECS
			if [ "$cache" = "$TMP/cache-$k" ] && mountpoint -q "$TMP/mnt"; then
				first_genes "$k"
				wait_index "$cache" "$OUT/$k.log" 1800 ||
					NOTES+=("$k: the gene index never reached the cache_dir, so (a) warm had to rebuild it")
			fi
			unmount "$k" "(a) empty"
			[ "$cache" = "$TMP/cache-$k" ] || rm -rf "$cache"
		done
	done
	for k; do settled "$k" ready_empty "$n" "(a) empty"; done
}

# warm_runs N KEY...: (a) again on cold_runs's cache_dir, N remounts each.
warm_runs() {
	local n=$1 run k
	shift
	for ((run = 1; run <= n; run++)); do
		for k; do
			[ -z "${GAVE_UP[$k]:-}" ] || continue
			say "$k: (a) viewer-ready, warm cache_dir (run $run of $n)"
			ready "$k" "$TMP/cache-$k" "(a) warm cache_dir, run $run"
			[ "$READY_SECS" = error ] || keep "$k" ready_warm "$READY_SECS"
			unmount "$k" "(a) warm"
		done
	done
	for k; do
		settled "$k" ready_warm "$n" "(a) warm"
		rm -rf "$TMP/cache-$k"
	done
}

# copy_runs N KEY...: (c), cp -r of a fresh mount with an empty cache_dir,
# started as soon as it appears, into COPY; R[KEY.cp_rss_kb] is the highest
# peak RSS. On the last run, a key in SERVE gets (d) on that mount, and the
# first key's copy is kept (COPY/copy-KEY) for (d) and floor.
copy_runs() {
	local n=$1 run k secs rss log
	shift
	for ((run = 1; run <= n; run++)); do
		for k; do
			[ -z "${GAVE_UP[$k]:-}" ] || continue
			log=$OUT/$k.log
			say "$k: (c) cp -r of a fresh mount, empty cache_dir (run $run of $n)"
			rm -rf "$TMP/cache-c" "$COPY/copy-$k"
			settle "${SRC[$k]}"
			start_daemon "${EXE[$k]}" "${SRC[$k]}" "$TMP/mnt" "$log" \
				"cache_dir=$TMP/cache-c,allow_other,default_permissions" "(c) run $run"
			if wait_mount "$log"; then
				mark "$log" "(c) cp -r, run $run"
				if limited "$k" "(c) cp -r, run $run" "$log" cp -r "$TMP/mnt" "$COPY/copy-$k"; then
					secs=$LIMITED_WALL rss=$(peak_rss_kb)
					keep "$k" cp_seconds "$secs"
					[ "$rss" -le "${R[$k.cp_rss_kb]:-0}" ] || R[$k.cp_rss_kb]=$rss
					say "$k: cp -r in $secs s ($(du -sh "$COPY/copy-$k" | cut -f1)), daemon peak RSS $rss kB"
					[ "$run" -lt "$n" ] || [ -z "${SERVE[$k]:-}" ] || serve_mount "$k"
				else
					say "$k: cp -r failed (log: $log)"
				fi
			fi
			unmount "$k" "(c)"
			rm -rf "$TMP/cache-c"
			[ "$k" = "$1" ] && [ "$run" -eq "$n" ] || rm -rf "$COPY/copy-$k"
		done
	done
	for k; do
		settled "$k" cp_seconds "$n" "(c) cp -r"
		[ "${R[$k.cp_seconds]}" != error ] || R[$k.cp_rss_kb]=error
	done
}

# serve_mount KEY: (d) on the mount copy_runs has just copied, so that
# every gene has been generated once: this measures serving, not generating.
serve_mount() {
	find "$COPY/copy-$1/var" -type f -printf '/var/%f\n' | sort >"$TMP/genes.list"
	say "$1: (d) nginx + wrk on the mount (${WRK_SECONDS} s)"
	serve_rate "$1" rps_mount "$TMP/mnt" "$TMP/genes.list" "the mount"
	NOTES+=("$1: daemon peak RSS after (c) and (d) together: $(fmt kb "$(peak_rss_kb)")")
}

# serve_plain KEY: (d) on KEY's copy in a plain directory.
serve_plain() {
	R[$1.rps_plain]=error
	[ -d "$COPY/copy-$1/var" ] || return 0
	find "$COPY/copy-$1/var" -type f -printf '/var/%f\n' | sort >"$TMP/genes.list"
	say "$1: (d) nginx + wrk on the plain copy (${WRK_SECONDS} s)"
	serve_rate "$1" rps_plain "$COPY/copy-$1" "$TMP/genes.list" "the plain copy"
}

# floor KEY: build/deflate-floor on KEY's copy's gene files: the daemon's
# own encoder, libdeflate and zlib make them again at level 6, one thread
# per core (and it checks that the daemon's encoder gives the copy's bytes);
# R[KEY.served_bytes] is what the copy's gene files hold.
floor() {
	local var=$COPY/copy-$1/var out name took files bytes differ
	R[$1.floor_seconds]=error R[$1.own_seconds]=error R[$1.zlib_bytes]=error R[$1.served_bytes]=error
	[ -d "$var" ] || return 0
	R[$1.served_bytes]=$(find "$var" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	say "$1: (c) floor: the gene files made again by cellucidfs's encoder, libdeflate and zlib at level 6, $(nproc) threads"
	out=$("$FLOOR" 6 "$var" 2>>"$OUT/$1.log") || return 0
	# encoder seconds MB/s files bytes_in bytes_out differ
	while read -r name took _ files _ bytes differ; do
		case $name in
		cellucidfs)
			R[$1.own_seconds]=$took
			[ "$differ" -eq 0 ] ||
				NOTES+=("$1 (c) floor: $differ of $files gene files differ from what cellucidfs's encoder makes of them") ;;
		libdeflate) R[$1.floor_seconds]=$took ;;
		zlib) R[$1.zlib_bytes]=$bytes ;;
		esac
	done <<<"$out"
}

# export_runs N KEY...: `cellucidfs export` (compression 6, the default)
# with an empty cache_dir of its own, into COPY; CPU seconds to the notes.
export_runs() {
	local n=$1 run k
	shift
	for ((run = 1; run <= n; run++)); do
		for k; do
			[ -z "${GAVE_UP[$k]:-}" ] || continue
			say "$k: cellucidfs export, empty cache_dir (run $run of $n)"
			rm -rf "$TMP/cache-x" "$COPY/export"
			settle "${SRC[$k]}"
			mark "$OUT/$k.log" "export, run $run"
			if limited "$k" "export, run $run" "$OUT/$k.log" \
				"${EXE[$k]}" export "${SRC[$k]}" "$COPY/export" -o "cache_dir=$TMP/cache-x"; then
				keep "$k" export "$LIMITED_WALL"
				keep "$k" export_cpu "$LIMITED_CPU"
				say "$k: exported in $LIMITED_WALL s"
			else
				say "$k: export failed (log: build/bench/$k.log)"
			fi
			rm -rf "$TMP/cache-x" "$COPY/export"
		done
	done
	for k; do
		settled "$k" export "$n" "export" " (CPU $(sed 's/ /, /g' <<<"${RUNS_OF[$k.export_cpu]:-}") s)"
	done
}

# log_notes KEY: a note for anything but progress reports (and the NaNs
# gen-h5ad puts in obs/pct_mito on purpose) in KEY's log, with the step it
# came in, and the log itself on stderr.
log_notes() {
	local log=$OUT/$1.log n first
	local progress='^cellucidfs: (prefetch: |gene index: |export [0-9]+%|exported |.*: obs field .pct_mito.: [0-9]+ of [0-9]+ values are NaN)'
	[ -s "$log" ] || return 0
	n=$(grep -c -v -E "^---|$progress" "$log" || true)
	if [ "$n" -gt 0 ]; then
		first=$(awk -v p="$progress" '/^---/ { step = substr($0, 14); next }
			$0 !~ p { print "in \"" step "\": " $0; exit }' "$log")
		NOTES+=("$1: $n warnings or errors in build/bench/$1.log, the first $first")
	fi
	# The log, with the step markers, less the progress lines.
	grep -v -E "$progress" "$log" >"$TMP/log" || true
	if grep -v -q '^---' "$TMP/log"; then
		say "$1: the daemons said (build/bench/$1.log):"
		head -n 40 "$TMP/log" | sed 's/^/    /' >&2
		[ "$(wc -l <"$TMP/log")" -le 40 ] || say "    ... $(($(wc -l <"$TMP/log") - 40)) more lines"
	fi
}
