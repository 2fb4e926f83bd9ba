# shellcheck shell=bash
# scripts/bench/table.sh - sourced by scripts/bench.sh: the measured values
# (R[KEY.MEASURE]) as table rows, and the tables as aligned text on stdout
# and as Markdown in build/bench/results.md. A comparison row shows the
# ratio, both figures it comes from, and its bar:
#
#   (f) gzip X: viewer-ready, empty / plain   123 %   0.81 s / 0.66 s   ≤ 130 %   yes

TABLE=()   # the main table's rows, "measure|value|beside|bar|met"; "#..." a heading
MD=""      # the Markdown of every table printed so far

# group N: 1000000 -> "1 000 000"
group() { sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\| \)/\1 \2\3/; ta' <<<"$1"; }

# describe CELLS GENES PER_CELL DATA: "100 000 cells × 20 000 genes × 800 values/cell (700 MB)"
describe() { echo "$(group "$1") cells × $(group "$2") genes × $(group "$3") values/cell ($(size_of "$4"))"; }

# fmt KIND VALUE: a measured value with its unit.
fmt() {
	case "$2" in error | timeout | "") echo "${2:-not measured}"; return ;; esac
	case "$1" in
	s) awk -v v="$2" 'BEGIN { printf(v < 10 ? "%.2f s" : "%.1f s", v) }' ;;
	ms) awk -v v="$2" 'BEGIN { printf(v < 100 ? "%.1f ms" : "%.0f ms", v) }' ;;
	kb) awk -v v="$2" 'BEGIN { b = v * 1024; printf(b < 1e9 ? "%.0f MB" : "%.2f GB", b < 1e9 ? b / 1e6 : b / 1e9) }' ;;
	bytes) awk -v v="$2" 'BEGIN { printf "%.1f MB", v / 1e6 }' ;;
	rps) echo "$(group "$(awk -v v="$2" 'BEGIN { printf "%.0f", v }')") req/s" ;;
	pct) awk -v v="$2" 'BEGIN { printf "%.0f %%", v }' ;;
	esac
}

# met VALUE OP LIMIT: yes/NO against the bar, empty without a value (a
# step cut by BENCH_STEP_LIMIT missed an upper bar).
met() {
	case "$1" in error | "") return 0 ;; timeout) [ "$2" = ge ] || echo NO; return 0 ;; esac
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = op == "le" ? v <= l : v >= l; print(ok ? "yes" : "NO") }'
}

# ratio A B: 100 * A / B; "timeout", "error" or nothing when either is.
ratio() {
	case "$1/$2" in
	timeout/*) echo timeout ;;
	*error* | */timeout) echo error ;;
	?*/?*) awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "error"; else printf "%.1f", 100 * a / b }' ;;
	esac
}

# row MEASURE KIND VALUE BESIDE [BAR OP LIMIT]
row() {
	local verdict=""
	[ $# -lt 7 ] || verdict=$(met "$3" "$6" "$7")
	TABLE+=("$1|$(fmt "$2" "$3")|$4|${5:-}|$verdict")
}

# cmp_row MEASURE KIND A B [BAR OP LIMIT]: A / B in %, both beside it.
cmp_row() {
	local r verdict=""
	r=$(ratio "$3" "$4")
	[ $# -lt 7 ] || verdict=$(met "$r" "$6" "$7")
	TABLE+=("$1|$(fmt pct "$r")|$(fmt "$2" "$3") / $(fmt "$2" "$4")|${5:-}|$verdict")
}

# main_rows KEY: the main dataset's figures beside the Python tools' (the
# issue's 100k dataset), with their bars.
main_rows() {
	local k=$1
	row "(a) viewer-ready, empty cache_dir" s "${R[$k.ready_empty]:-}" "4.0 s (server) / 64.2 s (prepare)" "≤ 2 s" le 2
	row "(a) viewer-ready, warm cache_dir" s "${R[$k.ready_warm]:-}" "4.0 s (server, every start)" "≤ 0.3 s" le 0.3
	row "(b) first gene read, p50" ms "${R[$k.gene_p50]:-}" "3.35 s (server, median)" "≤ 5 ms" le 5
	row "(b) first gene read, p99" ms "${R[$k.gene_p99]:-}" "4.0 s (server, slowest)" "≤ 50 ms" le 50
	row "(b) first gene read, max" ms "${R[$k.gene_max]:-}" "4.0 s (server, slowest)"
	row "(b) first gene file, from the daemon's start" s "${R[$k.first_gene]:-}" "—"
	row "(c) cp -r of the mount, wall time" s "${R[$k.cp_seconds]:-}" "64.2 s (prepare)" "≤ 10 s" le 10
	# 1 GB = 976 563 kB
	row "(c) daemon peak RSS, cp -r" kb "${R[$k.cp_rss_kb]:-}" "2.3 GB (prepare) / 1.4 GB (server)" "≤ 1 GB" le 976563
	row "(c) cellucidfs export, empty cache_dir" s "${R[$k.export]:-}" "64.2 s (prepare)"
	row "(c) floor: libdeflate alone, same gene files" s "${R[$k.floor_seconds]:-}" "—"
	row "(c) cellucidfs's gene encoder alone, same files" s "${R[$k.own_seconds]:-}" "—"
	cmp_row "(c) export / libdeflate floor" s "${R[$k.export]:-}" "${R[$k.floor_seconds]:-}" "≤ 60 %" le 60
	cmp_row "(c) served gene bytes / zlib level 6's" bytes "${R[$k.served_bytes]:-}" "${R[$k.zlib_bytes]:-}" \
		"≤ 100 % (prepare's)" le 100
	row "(d) nginx, gene files from the mount" rps "${R[$k.rps_mount]:-}" "—"
	row "(d) nginx, same files, plain directory" rps "${R[$k.rps_plain]:-}" "—"
	cmp_row "(d) mount / plain directory" rps "${R[$k.rps_mount]:-}" "${R[$k.rps_plain]:-}" "≥ 80 %" ge 80
}

# Every figure of main_rows measured on each binary: "measure|kind|row".
SAME_ROWS=("ready_empty|s|(a) viewer-ready, empty cache_dir" "ready_warm|s|(a) viewer-ready, warm cache_dir"
	"gene_p50|ms|(b) first gene read, p50" "gene_p99|ms|(b) first gene read, p99"
	"gene_max|ms|(b) first gene read, max" "first_gene|s|(b) first gene file, from the daemon's start"
	"cp_seconds|s|(c) cp -r of the mount, wall time" "cp_rss_kb|kb|(c) daemon peak RSS, cp -r"
	"export|s|(c) cellucidfs export, empty cache_dir" "rps_mount|rps|(d) nginx, gene files from the mount")

# base_rows: each of SAME_ROWS, this binary's against BENCH_BASE_BIN's in
# the same run, interleaved: no row more than 10 % worse (issues 14, 17).
base_rows() {
	local m kind what
	for m in "${SAME_ROWS[@]}"; do
		IFS='|' read -r m kind what <<<"$m"
		if [ "$kind" = rps ]; then   # more is better: 1 / 1.1
			cmp_row "$what: this / base" "$kind" "${R[main.$m]:-}" "${R[base.$m]:-}" "≥ 91 %" ge 90.9
		else
			cmp_row "$what: this / base" "$kind" "${R[main.$m]:-}" "${R[base.$m]:-}" "≤ 110 %" le 110
		fi
	done
}

# zarr_rows: (z), the Zarr store against the .h5ad in the same run: no
# slower (issue 16); its peak RSS beside it, without a bar.
zarr_rows() {
	cmp_row "(a) viewer-ready, empty cache_dir: Zarr / .h5ad" s "${R[zarr.ready_empty]:-}" "${R[main.ready_empty]:-}" "≤ 100 %" le 100
	cmp_row "(a) viewer-ready, warm cache_dir: Zarr / .h5ad" s "${R[zarr.ready_warm]:-}" "${R[main.ready_warm]:-}" "≤ 100 %" le 100
	cmp_row "(c) cp -r of the mount: Zarr / .h5ad" s "${R[zarr.cp_seconds]:-}" "${R[main.cp_seconds]:-}" "≤ 100 %" le 100
	cmp_row "(c) daemon peak RSS, cp -r: Zarr / .h5ad" kb "${R[zarr.cp_rss_kb]:-}" "${R[main.cp_rss_kb]:-}"
}

# big_rows: (e), the 1M dataset's bars (issue 17).
big_rows() {
	row "(a) viewer-ready, empty cache_dir" s "${R[big.ready_empty]:-}" "—" "≤ 30 s" le 30
	row "(a) viewer-ready, warm cache_dir" s "${R[big.ready_warm]:-}" "—" "≤ 1 s" le 1
	cmp_row "(b) first gene from the start / viewer-ready, same mount" s "${R[big.first_gene]:-}" \
		"${R[big.ready_first]:-}" "≤ 150 %" le 150
	# 4 GB = 3 906 250 kB
	row "(c) daemon peak RSS, cp -r" kb "${R[big.cp_rss_kb]:-}" "—" "≤ 4 GB" le 3906250
}

# scaling_rows KEY...: the scaling table (issue 17), one column per key
# ("-" for one not run): each row "measure|fig|fig|...".
SCALING=()
scaling_rows() {
	local spec m kind what line k
	for spec in "shape||dataset" "ready_empty|s|(a) viewer-ready, empty cache_dir" \
		"ready_warm|s|(a) viewer-ready, warm cache_dir" "gene_p50|ms|(b) first gene read, p50" \
		"gene_p99|ms|(b) first gene read, p99" "gene_max|ms|(b) first gene read, max" \
		"first_gene|s|(b) first gene file, from the daemon's start" \
		"cp_seconds|s|(c) cp -r of the mount, wall time" "cp_rss_kb|kb|(c) daemon peak RSS, cp -r"; do
		IFS='|' read -r m kind what <<<"$spec"
		line=$what
		for k; do
			if [ -z "${SRC[$k]:-}" ]; then
				line+="|${SKIPPED[$k]:-—}"
			elif [ "$m" = shape ]; then
				line+="|${SHAPE[$k]}"
			else
				line+="|$(fmt "$kind" "${R[$k.$m]:-}")"
			fi
		done
		SCALING+=("$line")
	done
}

# pad TEXT WIDTH
pad() { printf '%s%*s' "$1" $(($2 - ${#1})) ""; }

# grid TITLE HEADER ROW...: rows ("a|b|c"; "#..." a heading) aligned on
# stdout, and as Markdown onto MD.
grid() {
	local title=$1 head=$2 r i n line
	local -a f w
	shift 2
	IFS='|' read -r -a f <<<"$head"
	n=${#f[@]}
	for ((i = 0; i < n; i++)); do w[i]=0; done
	for r in "$head" "$@"; do
		[ "${r:0:1}" != "#" ] || continue
		IFS='|' read -r -a f <<<"$r|"
		for ((i = 0; i < n; i++)); do
			[ "${#f[i]}" -le "${w[i]}" ] || w[i]=${#f[i]}
		done
	done
	MD+="### $title"$'\n\n'"| ${head//|/ | } |"$'\n'"|$(for ((i = 0; i < n; i++)); do printf ' --- |'; done)"$'\n'
	echo
	echo "$title"
	for r in "$head" "$@"; do
		if [ "${r:0:1}" = "#" ]; then
			echo "${r:1}"
			MD+="| **${r:1}** |$(for ((i = 1; i < n; i++)); do printf ' |'; done)"$'\n'
			continue
		fi
		IFS='|' read -r -a f <<<"$r|"
		line=""
		for ((i = 0; i < n - 1; i++)); do line+="$(pad "${f[i]}" "${w[i]}")   "; done
		echo "${line}${f[n - 1]}" | sed 's/ *$//'
		[ "$r" = "$head" ] || MD+="| ${r//|/ | } |"$'\n'
	done
	MD+=$'\n'
}

# print_notes: NOTES under the tables, on stdout and in MD.
print_notes() {
	local line
	echo
	for line in "${NOTES[@]}"; do
		echo "  note: $line"
		MD+="- $line"$'\n'
	done
}
