#!/bin/bash
# scripts/fuzz.sh - run the libFuzzer target (tests/fuzz/fuzz_open.c, built by
# make fuzz-build) for FUZZ_SECONDS, then sort what it found: crashes, hangs
# and leaks whose first frame outside the sanitizers and libc is in libhdf5
# are libhdf5's (they are what the reader process contains), the others ours.
#
#   $ make fuzz FUZZ_SECONDS=600
#   ...
#   fuzz: 2172 executions in 43 s (57/s), corpus 91 inputs, cov 6501 ft 5502
#   fuzz: ours: 0 inputs; libhdf5: 4 inputs
#     libhdf5  crash    H5HG_read < libhdf5_serial.so.103+0x2beeff < H5T__conv_vlen   (1 inputs, e.g. crash-ba3a...)
#     libhdf5  leak     libhdf5_serial.so.103+0x2bf257 < H5T__conv_vlen < H5T_convert   (2 inputs, e.g. leak-11de...)
#
#   $ bash scripts/fuzz.sh classify build/fuzz/artifacts/crash-ba3a...   # one input
#
# The corpus (build/fuzz/corpus) grows from run to run; it is seeded with
# the fixtures under 400 kB, tests/gen_cases.py's encodings and small
# gen-h5ad files. libFuzzer runs in fork mode and keeps going past crashes,
# hangs (-timeout=FUZZ_TIMEOUT, default 10 s) and inputs that need more than
# FUZZ_RSS_MB; each is kept in build/fuzz/artifacts. What libhdf5 allocates
# and loses on its own error paths is not reported as a leak
# (tests/lsan-libhdf5.supp). Exits 1 when an input crashes, hangs or leaks in
# our code.
set -u
cd "$(dirname "$0")/.."
F=${FUZZ_DIR:-build/fuzz}
BIN=${FUZZ_BIN:-$F/fuzz_open}
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
TIMEOUT=${FUZZ_TIMEOUT:-10}
RSS_MB=${FUZZ_RSS_MB:-2048}
FIXTURES=${FIXTURES:-../shared/fixtures}

# The frames of the first stack of the report of one input, as
# "function<TAB>where" (an unnamed frame, in a library without symbols, is
# named by its module and offset); the sanitizers', libFuzzer's and libc's
# own frames are left out. Allocation stacks are unwound in full.
frames() {
	TMPDIR=$F/tmp ASAN_OPTIONS=fast_unwind_on_malloc=0 LSAN_OPTIONS= \
		timeout $((TIMEOUT * 3)) "$BIN" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
		-malloc_limit_mb="$RSS_MB" "$1" 2>&1 |
		awk '/ERROR: libFuzzer: timeout/ && !k++ { print "kind\ttimeout" }
			/ERROR: LeakSanitizer/ && !k++ { print "kind\tleak" }
			/out-of-memory|allocation-size-too-big/ && !k++ { print "kind\toom" }
			/^ *#0 0x/ { if (seen) exit; seen = 1 }
			seen && /^ *#[0-9]+ 0x/ { print; if (/ in main /) exit }' |
		sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in ([^ ]+) (.*)$/\1\t\2/;
			s/^ *#[0-9]+ 0x[0-9a-f]+ +\(([^ )]*\/)?([^ )]+)\).*$/\2\t\1\2/' |
		grep -v -E '^(__asan|__ubsan|__sanitizer|__interceptor_|__lsan|fuzzer::|LLVMFuzzer|__libc|_start)' |
		grep -v -E '^(main|malloc|calloc|realloc|free|_*(w?mem|str)[a-z0-9_]*)'$'\t' |
		grep -v -E $'\t''.*(libc\.so|libstdc\+\+|ld-linux)'
}

# "libhdf5" or "ours", the kind of failure, and the first three functions
# of one input ("unreproduced" when it did not fail again: a flaky input).
classify_one() {
	local report kind top
	report=$(frames "$1")
	kind=$(sed -n 's/^kind\t//p' <<<"$report")
	top=$(grep -v '^kind' <<<"$report" | head -3)
	if [ -z "$top" ]; then
		printf 'unreproduced\tnone\t-\n'
		return
	fi
	printf '%s\t%s\t%s\n' "$(head -1 <<<"$top" | grep -q libhdf5 && echo libhdf5 || echo ours)" \
		"${kind:-crash}" "$(cut -f1 <<<"$top" | paste -sd'<' | sed 's/</ < /g')"
}

classify() {
	local f
	for f in "$@"; do
		printf '%s\t' "$f"
		classify_one "$f"
	done
}

# Seeds: small real files and every encoding the tests generate.
seed() {
	local s=$F/seeds f
	rm -rf "$s" && mkdir -p "$s" "$F/corpus" "$F/artifacts" "$F/tmp"
	for f in "$FIXTURES"/*.h5ad; do
		[ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 400000 ] && cp "$f" "$s/"
	done
	/usr/bin/python3 tests/gen_cases.py "$s/cases" >/dev/null 2>&1 &&
		mv "$s"/cases/*.h5ad "$s/" && rm -rf "$s/cases"
	build/gen-h5ad --cells 60 --genes 30 --per-cell 5 --seed 1 "$s/gen.h5ad" >/dev/null
	build/gen-h5ad --cells 40 --genes 20 --per-cell 4 --seed 2 --x-dense "$s/gen_dense.h5ad" >/dev/null
	build/gen-h5ad --cells 50 --genes 25 --per-cell 5 --seed 3 --x-compression gzip "$s/gen_gzip.h5ad" >/dev/null
	build/gen-h5ad --cells 50 --genes 25 --per-cell 5 --seed 4 --x-compression lzf "$s/gen_lzf.h5ad" >/dev/null
}

run() {
	seed
	TMPDIR=$F/tmp LSAN_OPTIONS=suppressions=$PWD/tests/lsan-libhdf5.supp \
		nice -n 19 "$BIN" "$F/corpus" "$F/seeds" -fork=1 -ignore_crashes=1 \
		-ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$SECONDS_TO_RUN" \
		-timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" \
		-artifact_prefix="$F/artifacts/" 2>&1 | tee "$F/last.log" | grep -E '^#[0-9]+:|DONE|INFO: exiting'
	rm -rf "$F/tmp"/*
	report "$F/last.log"
}

# The figures of a run's log, and what its artifacts are.
report() {
	local last artifacts sorted
	last=$(grep -E '^#[0-9]+: cov:' "$1" | tail -1)
	[ -n "$last" ] && sed -E 's/^#([0-9]+): cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+) exec\/s:? ([0-9]+).* time: ([0-9]+)s.*/fuzz: \1 executions in \6 s (\5\/s), corpus \4 inputs, cov \2 ft \3/' <<<"$last"
	mapfile -t artifacts < <(find "$F/artifacts" -type f \( -name 'crash-*' -o -name 'timeout-*' \
		-o -name 'leak-*' -o -name 'oom-*' \) | sort)
	sorted=$(classify "${artifacts[@]}")
	printf '%s\n' "$sorted" | awk -F'\t' 'NF == 4 {
			n[$2]++; k = $2 "\t" $3 "\t" $4; c[k]++; if (!(k in e)) e[k] = $1
		}
		END {
			printf "fuzz: ours: %d inputs; libhdf5: %d inputs; unreproduced: %d\n", n["ours"], n["libhdf5"], n["unreproduced"]
			for (k in c) { split(k, p, "\t"); m = e[k]; sub(/.*\//, "", m)
				printf "  %-8s %-8s %s   (%d inputs, e.g. %s)\n", p[1], p[2], p[3], c[k], m }
		}'
	! grep -q "$(printf '\tours\t')" <<<"$sorted"
}

case "${1:-run}" in
run) run ;;
seed) seed ;;
classify) shift; classify "$@" ;;
report) report "${2:-$F/last.log}" ;;
*) echo "usage: scripts/fuzz.sh [run | seed | classify INPUT... | report [LOG]]" >&2; exit 2 ;;
esac
