# shellcheck shell=bash
# scripts/bench/variants.sh - sourced by scripts/bench.sh: the main
# dataset's data with X as people's files have it (issue 17) - gzip (h5py's
# compression="gzip"), LZF, dense chunked - made by gen-h5ad from the same
# seed and cached beside it in build/data. For each, and for the plain file
# in the same run: viewer-ready with an empty cache_dir, cp -r of a fresh
# mount, `cellucidfs export`; the gzip and LZF rows carry the bar "≤ 1.3 ×
# the plain file's". CPU seconds (the daemon's, export's) go to the notes, as
# the machine may be shared. Sample row:
#   (f) gzip: viewer-ready, empty cache_dir   0.81 s   plain: 0.66 s   ≤ 0.86 s   yes

VARIANTS=(gzip lzf dense)
# dense is gzip'd too: 100 000 x 20 000 float32 plain would be an 8 GB file.
declare -A VARIANT_OPT=([gzip]="--x-compression gzip" [lzf]="--x-compression lzf"
	[dense]="--x-dense --x-compression gzip")

# variant_path DATA NAME: where the variant of DATA is cached.
variant_path() { echo "${1%.h5ad}-$2.h5ad"; }

# variant_generate CELLS GENES PER_CELL NAME DATA: make the variant unless it is there.
variant_generate() {
	[ -s "$5" ] && return 0
	say "generating $5 (X: $4)"
	# shellcheck disable=SC2086 # the options are words
	"$GEN" --cells "$1" --genes "$2" --per-cell "$3" --seed "$SEED" ${VARIANT_OPT[$4]} "$5" >&2
}

# daemon_cpu: the running daemon's CPU seconds (user + system).
daemon_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$DAEMON_PID/stat"; }

# timed KEY MEASURE CMD...: R[KEY.MEASURE] = CMD's wall seconds,
# R[KEY.MEASURE_cpu] its CPU seconds; CMD's output goes to the key's log.
timed() {
	local key=$1 m=$2 wall user sys TIMEFORMAT='%R %U %S'
	shift 2
	if { time "$@" >>"$OUT/$key.log" 2>&1; } 2>"$TMP/time"; then
		read -r wall user sys <"$TMP/time"
		R[$key.$m]=$wall
		R[$key.${m}_cpu]=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
	else
		R[$key.$m]=error R[$key.${m}_cpu]=error
	fi
}

# variant_runs KEY DATA: (a) viewer-ready cold, cp -r of a fresh mount and
# export, RUNS times each, medians in R[KEY.v_ready], R[KEY.v_cp], R[KEY.v_export].
variant_runs() {
	local key=$1 data=$2 log=$OUT/$1.log mnt=$TMP/mnt run r_ready=() r_cp=() r_ex=() cpu=()
	: >>"$log"
	for ((run = 1; run <= RUNS; run++)); do
		say "$key: viewer-ready, cp -r, export (run $run of $RUNS)"
		rm -rf "$TMP/cache-v" "$COPY/copy"
		ready "$key" ready_empty "$data" "$mnt" "$TMP/cache-v" "$log"
		[ "${R[$key.ready_empty]}" = error ] || r_ready+=("${R[$key.ready_empty]}")
		mountpoint -q "$mnt" && cpu+=("$(daemon_cpu)")
		unmount "$key" "(a) empty"
		rm -rf "$TMP/cache-v"
		settle "$data"
		start_daemon "$data" "$mnt" "$log" "cache_dir=$TMP/cache-v" "(c)"
		if wait_mount "$log"; then
			timed "$key" cp cp -r "$mnt" "$COPY/copy"
			[ "${R[$key.cp]}" = error ] || r_cp+=("${R[$key.cp]}")
		fi
		unmount "$key" "(c)"
		rm -rf "$TMP/cache-v" "$COPY/copy"
		settle "$data"
		timed "$key" export "$BIN" export "$data" "$COPY/copy"
		[ "${R[$key.export]}" = error ] || r_ex+=("${R[$key.export]}")
		rm -rf "$COPY/copy"
	done
	R[$key.v_ready]=error R[$key.v_cp]=error R[$key.v_ex]=error
	[ "${#r_ready[@]}" -ne "$RUNS" ] || R[$key.v_ready]=$(median "${r_ready[@]}")
	[ "${#r_cp[@]}" -ne "$RUNS" ] || R[$key.v_cp]=$(median "${r_cp[@]}")
	[ "${#r_ex[@]}" -ne "$RUNS" ] || R[$key.v_ex]=$(median "${r_ex[@]}")
	NOTES+=("$key: viewer-ready $(sed 's/ /, /g' <<<"${r_ready[*]}") s (daemon CPU $(sed 's/ /, /g' <<<"${cpu[*]}") s), export CPU ${R[$key.export_cpu]} s in the last run; the table shows medians")
}

# variant_rows: each variant's three figures beside the plain file's, with the bar.
variant_rows() {
	local v m what limit
	for v in "${VARIANTS[@]}"; do
		TABLE+=("#(f) X as $v, the same data (build/data/$(basename "$(variant_path "$DATA" "$v")"))")
		for m in ready cp ex; do
			case $m in
			ready) what="viewer-ready, empty cache_dir" ;;
			cp) what="cp -r of the mount, wall time" ;;
			ex) what="cellucidfs export, wall time" ;;
			esac
			limit=${R[plain.v_$m]:-error}
			# The issue's bar is for the compressed CSR files; dense X has none.
			if [ "$limit" = error ] || [ "$v" = dense ]; then
				row "(f) $v: $what" s "${R[$v.v_$m]:-}" "plain: $(fmt s "$limit")"
			else
				limit=$(awk -v p="$limit" 'BEGIN { printf "%.3f", 1.3 * p }')
				row "(f) $v: $what" s "${R[$v.v_$m]:-}" "plain: $(fmt s "${R[plain.v_$m]}")" \
					"≤ 1.3 × plain ($(fmt s "$limit"))" le "$limit"
			fi
		done
	done
}

# bench_variants: generate and measure the plain file and every variant, interleaved by variant.
bench_variants() {
	local v
	for v in "${VARIANTS[@]}"; do
		variant_generate "$CELLS" "$GENES" "$PER_CELL" "$v" "$(variant_path "$DATA" "$v")"
	done
	variant_runs plain "$DATA"
	for v in "${VARIANTS[@]}"; do
		variant_runs "$v" "$(variant_path "$DATA" "$v")"
	done
	variant_rows
}
