#!/usr/bin/env bash
# bench.sh - `make bench`: how fast cellucidfs makes a large .h5ad viewable,
# printed beside the figures of the reference Python tools on the same
# machine class (full `prepare()` export: 64.2 s, 2.3 GB peak RSS; AnnData-mode
# server: 4.0 s for the manifests, 2.9-4.0 s per gene, median 3.35 s, 1.4 GB),
# and every comparison the issues ask for (14, 16, 17), each ratio beside the
# two figures it comes from, measured in the same run.
#
# Datasets (made once into build/data, never into the repository): main,
# build/gen-h5ad --cells 100000 --genes 20000 --per-cell 800 --seed 3 (CSR,
# 700 MB, bench-100k.h5ad); the same data with X gzip'd (h5py's default
# chunking, level 4), LZF and dense gzip'd chunks (scripts/bench/
# variants.sh); the same as a Zarr store (write_zarr, Blosc-lz4, zarr's
# default; scripts/bench/to_zarr.py); 10 000 cells of the same shape; with
# BENCH_1M=1, 1 000 000 cells x 2 000 genes x 1 000 values/cell (8.6 GB).
# Every dataset is read into the page cache right before every timed step.
# A mount runs the daemon in the foreground (in the background) with default
# options plus cache_dir=<fresh or reused dir>.
#
#   (a) viewer-ready: from just before the daemon starts until
#       dataset_identity.json, obs_manifest.json, var_manifest.json, every
#       points file and every obs/ file have been read in full, one after the
#       other (scripts/bench/probe.py) - with an empty cache_dir (median of
#       BENCH_COLD_RUNS), then remounted on the first run's, now warm,
#       cache_dir (median of BENCH_RUNS);
#   (b) on the first empty-cache mount, right after (a): 200 random gene
#       files (fixed seed) read one by one, p50, p99, max, and the time from
#       the daemon's start to the end of the first (what a viewer user waits
#       for the first gene);
#   (c) `cp -r` of a fresh mount with an empty cache_dir, started as soon as
#       it appears (median of BENCH_RUNS; the copy goes to /dev/shm where it
#       fits, so the destination disk is not what is measured) and the
#       daemon's peak RSS (VmHWM); `cellucidfs export` with an empty
#       cache_dir (compression 6, median of BENCH_EXPORT_RUNS); the floor:
#       build/deflate-floor makes the copy's gene files again at level 6
#       with the daemon's encoder, libdeflate and zlib on every core - the
#       export against libdeflate's seconds (bar ≤ 60 %), the copy's gene
#       bytes against zlib's (≤ 100 %);
#   (d) nginx (scripts/nginx/cellucid.conf) and `wrk -t2 -c16` on random gene
#       files (scripts/bench/nginx.sh), from the last (c) mount, where every
#       gene has been generated once, and from its copy in a plain directory;
#   (g) with BENCH_BASE_BIN: every figure of (a)-(d) also measured with that
#       (older) binary, interleaved run by run with this one, and the ratio
#       this / base (bar ≤ 110 %: nothing more than 10 % worse);
#   (z) Zarr: (a)-(c) of the Zarr store beside the .h5ad's (bar ≤ 100 %);
#   (f) the gzip, LZF and dense variants: (a) empty, (c) cp -r and export
#       beside the plain file's (bar ≤ 130 % for gzip and LZF);
#   (e) 1M: first gene from the daemon's start ≤ 150 % of viewer-ready on
#       the same mount, peak RSS ≤ 4 GB; and a scaling table, 10k / 100k / 1M:
#       (a) empty and warm, (b), (c) cp -r and peak RSS.
# The main dataset's keys (main, base, zarr, the variants) run interleaved,
# run 1 of each, then run 2 of each (scripts/bench/steps.sh), so that the
# machine's drift hits all alike.
#
# Output: the tables on stdout (progress on stderr), with the wall time of
# each section; the same in Markdown in build/bench/results.md; the daemons'
# logs and wrk's output in build/bench/*.log. Mounts, cache dirs and copies
# live in temporary directories removed at the end, also on failure or
# Ctrl-C. Needs root (nginx workers run as www-data and read the mount
# through allow_other), FUSE, nginx, wrk, curl and /usr/bin/python3 with
# anndata and zarr: `make bench` installs them and builds ./cellucidfs,
# build/gen-h5ad and build/deflate-floor first. With BENCH_1M=1 and
# BENCH_BASE_BIN, 32 minutes on these 2 cores under a load of 13-19 from
# other work (not yet timed quiet); the 1M file's first making, 15 more.
#
# Environment:
#   BENCH_BASE_BIN=PATH        also run (a)-(d) with that binary: (g)
#   BENCH_1M=1                 also run the 1M dataset: (e)
#   BENCH_ZARR=0, BENCH_VARIANTS=0, BENCH_SCALING=0
#                              skip (z), (f), the 10k dataset
#   BENCH_CELLS, BENCH_GENES, BENCH_PER_CELL, BENCH_SEED
#                              the main dataset (100000, 20000, 800, 3); a
#                              small one gives a quick trial run
#   BENCH_SMALL_CELLS          the scaling table's small dataset (10000 cells,
#                              the main dataset's genes and values per cell)
#   BENCH_1M_CELLS, BENCH_1M_GENES, BENCH_1M_PER_CELL
#                              the 1M dataset (1000000, 2000, 1000)
#   BENCH_RUNS                 runs of (a) warm and (c) cp -r (3)
#   BENCH_COLD_RUNS            runs of (a) with an empty cache_dir (2)
#   BENCH_EXPORT_RUNS          runs of export (2)
#   BENCH_1M_RUNS              runs of the 1M dataset's (a) empty and (c) (1)
#   BENCH_WRK_SECONDS          length of each wrk run (10)
#   BENCH_STEP_LIMIT, BENCH_1M_STEP_LIMIT
#                              seconds a timed step may take (120; 900 for
#                              the 1M dataset): past that it is cut, and the
#                              dataset's later steps skipped ("timeout")
#   BENCH_PORT                 first port tried for nginx (18180)
#   BENCH_TMPDIR               where the temporary directory (cache dirs,
#                              mountpoints) goes ($TMPDIR or /tmp)
#   BENCH_COPYDIR              where the copies go (/dev/shm when it is a RAM
#                              file system with room, else the temporary
#                              directory)
#   CELLUCIDFS_BIN             the binary (./cellucidfs)
set -euo pipefail
export LC_ALL=C.UTF-8   # ${#s} counts characters (the table has × and ≤)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CELLUCIDFS_BIN:-$ROOT/cellucidfs}
BASE_BIN=${BENCH_BASE_BIN:-}
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
SMALL_CELLS=${BENCH_SMALL_CELLS:-10000}
BIG=${BENCH_1M:-0}
BIG_CELLS=${BENCH_1M_CELLS:-1000000}
BIG_GENES=${BENCH_1M_GENES:-2000}
BIG_PER_CELL=${BENCH_1M_PER_CELL:-1000}
RUNS=${BENCH_RUNS:-3}
COLD_RUNS=${BENCH_COLD_RUNS:-2}
EXPORT_RUNS=${BENCH_EXPORT_RUNS:-2}
BIG_RUNS=${BENCH_1M_RUNS:-1}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
STEP_LIMIT=${BENCH_STEP_LIMIT:-120}
BIG_STEP_LIMIT=${BENCH_1M_STEP_LIMIT:-900}
FIRST_PORT=${BENCH_PORT:-18180}
GENE_SAMPLE=200

say() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# shellcheck source=scripts/bench/daemon.sh
source "$ROOT/scripts/bench/daemon.sh"
# shellcheck source=scripts/bench/nginx.sh
source "$ROOT/scripts/bench/nginx.sh"
# shellcheck source=scripts/bench/data.sh
source "$ROOT/scripts/bench/data.sh"
# shellcheck source=scripts/bench/steps.sh
source "$ROOT/scripts/bench/steps.sh"
# shellcheck source=scripts/bench/table.sh
source "$ROOT/scripts/bench/table.sh"
# shellcheck source=scripts/bench/variants.sh
source "$ROOT/scripts/bench/variants.sh"

TMP=             # the temporary directory
COPY=            # where the copies go (see copy_base)
declare -A R     # measured values by "KEY.MEASURE"; absent: not measured
declare -A SRC EXE LIMIT WARM SERVE SHAPE SKIPPED   # by key: see member
NOTES=()         # lines printed under the tables
TIMES=()         # "section|wall time"

cleanup() {
	# shellcheck disable=SC2086 # pids
	[ -z "$LIMITED_PIDS" ] || kill -KILL $LIMITED_PIDS 2>/dev/null || true
	stop_nginx
	stop_daemon || true
	# --one-file-system: never descend into a mount that would not go away.
	[ -z "$TMP" ] || rm -rf --one-file-system "$TMP"
	[ -z "$COPY" ] || rm -rf --one-file-system "$COPY"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# section NAME: end the section under way (its wall time into TIMES), start NAME.
SECTION='' SECTION_T0=''
section() {
	if [ -n "$SECTION" ]; then
		TIMES+=("$SECTION|$(fmt s "$(elapsed "$SECTION_T0")")")
		say "--- $SECTION: $(elapsed "$SECTION_T0") s"
	fi
	SECTION=$1 SECTION_T0=$EPOCHREALTIME
}

# member KEY DATA BIN CELLS GENES PER_CELL: KEY is DATA read by BIN, for
# the steps, each cut after STEP_LIMIT seconds; its log starts empty.
member() {
	SRC[$1]=$2 EXE[$1]=$3 LIMIT[$1]=$STEP_LIMIT
	SHAPE[$1]="$(group "$4") × $(group "$5") × $(group "$6"), $(size_of "$2")"
	: >"$OUT/$1.log"
	: >"$OUT/$1-wrk.log"
}

# --- set-up -----------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || die "run as root (nginx's workers read the mount as www-data through allow_other)"
for tool in "$BIN" "$GEN" "$FLOOR" ${BASE_BIN:+"$BASE_BIN"}; do
	[ -x "$tool" ] || die "$tool is missing (make bench builds all but BENCH_BASE_BIN)"
done
for tool in nginx wrk curl fusermount3 "$PY"; do
	command -v "$tool" >/dev/null || die "$tool is not installed (make deps installs it)"
done
[ -c /dev/fuse ] || die "FUSE is not available here (no /dev/fuse)"

COMMAND=""   # what produced the tables, for results.md
for v in BENCH_BASE_BIN BENCH_1M BENCH_ZARR BENCH_VARIANTS BENCH_SCALING BENCH_CELLS BENCH_GENES BENCH_PER_CELL \
	BENCH_SEED BENCH_SMALL_CELLS BENCH_1M_CELLS BENCH_1M_GENES BENCH_1M_PER_CELL BENCH_RUNS BENCH_COLD_RUNS \
	BENCH_EXPORT_RUNS BENCH_1M_RUNS BENCH_WRK_SECONDS BENCH_STEP_LIMIT BENCH_1M_STEP_LIMIT; do
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
NOTES+=("the copies go to $(df --output=fstype "$COPY" | tail -n 1) ($(dirname "$COPY")), the cache_dirs to $(df --output=fstype "$TMP" | tail -n 1) ($(dirname "$TMP"))")

# --- the datasets -------------------------------------------------------------------

section "datasets (made once, into build/data)"
KEYS=(main) VKEYS=()   # the main dataset's keys: (a)-(d); the variants: (a) empty, (c)
DATA=$(dataset_path "$CELLS" "$GENES" "$PER_CELL")
why=$(room "$CELLS" "$GENES" "$PER_CELL" "$DATA" 4)
[ -z "$why" ] || die "not enough disk: $why"
generate "$CELLS" "$GENES" "$PER_CELL" "$DATA"
member main "$DATA" "$BIN" "$CELLS" "$GENES" "$PER_CELL"
WARM[main]=1 SERVE[main]=1
if [ -n "$BASE_BIN" ]; then
	member base "$DATA" "$BASE_BIN" "$CELLS" "$GENES" "$PER_CELL"
	WARM[base]=1 SERVE[base]=1 KEYS+=(base)
	NOTES+=("(g) base: $BASE_BIN ($("$BASE_BIN" -V 2>&1 | head -n 1), sha256 $(sha256sum <"$BASE_BIN" | cut -c1-12)); this: ${BIN#"$ROOT"/} ($("$BIN" -V 2>&1 | head -n 1), sha256 $(sha256sum <"$BIN" | cut -c1-12))")
fi
ZDATA=${DATA%.h5ad}.zarr
if [ "${BENCH_ZARR:-1}" != 1 ]; then
	TABLE_Z="skipped (BENCH_ZARR=0)"
elif [ "$(data_bytes "$CELLS" "$GENES" "$PER_CELL")" -gt "$(avail_bytes "$DATA_DIR")" ] && [ ! -d "$ZDATA" ]; then
	TABLE_Z="skipped (no room for the store in $DATA_DIR)"
elif ! to_zarr "$DATA" "$ZDATA"; then
	TABLE_Z="skipped (scripts/bench/to_zarr.py failed)"
else
	member zarr "$ZDATA" "$BIN" "$CELLS" "$GENES" "$PER_CELL"
	WARM[zarr]=1 KEYS+=(zarr)
	TABLE_Z="the same data as a Zarr store (write_zarr, Blosc-lz4; ${ZDATA#"$ROOT"/}, $(size_of "$ZDATA"))"
fi
if [ "${BENCH_VARIANTS:-1}" = 1 ]; then
	for v in "${VARIANTS[@]}"; do
		variant_generate "$CELLS" "$GENES" "$PER_CELL" "$v" "$(variant_path "$DATA" "$v")"
		member "$v" "$(variant_path "$DATA" "$v")" "$BIN" "$CELLS" "$GENES" "$PER_CELL"
		VKEYS+=("$v")
	done
fi
if [ "${BENCH_SCALING:-1}" = 1 ]; then
	SMALL_DATA=$(dataset_path "$SMALL_CELLS" "$GENES" "$PER_CELL")
	generate "$SMALL_CELLS" "$GENES" "$PER_CELL" "$SMALL_DATA"
	member small "$SMALL_DATA" "$BIN" "$SMALL_CELLS" "$GENES" "$PER_CELL"
	WARM[small]=1
else
	SKIPPED[small]="skipped (BENCH_SCALING=0)"
fi
BIG_DATA=$(dataset_path "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL")
if [ "$BIG" != 1 ]; then
	SKIPPED[big]="skipped (set BENCH_1M=1)"
elif why=$(room "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL" "$BIG_DATA" 1) && [ -n "$why" ]; then
	SKIPPED[big]="skipped ($why)"
else
	generate "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL" "$BIG_DATA"
	member big "$BIG_DATA" "$BIN" "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL"
	WARM[big]=1 LIMIT[big]=$BIG_STEP_LIMIT
fi

# --- the main dataset, its other forms and the base binary, interleaved ------------

section "(a) empty cache_dir and (b): ${KEYS[*]} ${VKEYS[*]}"
cold_runs "$COLD_RUNS" "${KEYS[@]}" "${VKEYS[@]}"
section "(a) warm cache_dir: ${KEYS[*]}"
warm_runs "$RUNS" "${KEYS[@]}"
section "(c) cp -r, and (d) on the last mounts: ${KEYS[*]} ${VKEYS[*]}"
copy_runs "$RUNS" "${KEYS[@]}" "${VKEYS[@]}"
serve_plain main
section "(c) floor"
floor main
rm -rf "$COPY/copy-main"
EXPORT_KEYS=(main ${BASE_BIN:+base} "${VKEYS[@]}")
section "(c) export: ${EXPORT_KEYS[*]}"
export_runs "$EXPORT_RUNS" "${EXPORT_KEYS[@]}"

# --- the scaling table's other sizes ----------------------------------------------

for k in small big; do
	[ -n "${SRC[$k]:-}" ] || continue
	n=$RUNS
	[ "$k" = small ] || n=$BIG_RUNS
	section "(a)-(c): $k (${SHAPE[$k]})"
	cold_runs "$n" "$k"
	warm_runs "$RUNS" "$k"
	copy_runs "$n" "$k"
	rm -rf "$COPY/copy-$k"
done
section "tables"

# --- the tables -------------------------------------------------------------------

for k in "${KEYS[@]}" "${VKEYS[@]}" small big; do
	[ -z "${SRC[$k]:-}" ] || log_notes "$k"
done
[ "$CELLS/$GENES/$PER_CELL" = 100000/20000/800 ] ||
	NOTES+=("this is not the issue's dataset: the reference figures and bars are for 100 000 × 20 000 × 800")
[ "$BIG_GENES/$BIG_PER_CELL" != 2000/1000 ] || [ -z "${SRC[big]:-}" ] ||
	NOTES+=("(e) has 2 000 genes: 1 000 values per cell need at least 1 000, and 2 000 is the usual highly-variable-gene selection (X half dense)")
main_rows main
if [ -n "$BASE_BIN" ]; then
	TABLE+=("#(g) this binary against BENCH_BASE_BIN, interleaved in the same run (${BASE_BIN})")
	base_rows
else
	TABLE+=("#(g) against an older binary: skipped (set BENCH_BASE_BIN)")
fi
TABLE+=("#(z) $TABLE_Z")
[ -z "${SRC[zarr]:-}" ] || zarr_rows
[ "${#VKEYS[@]}" -gt 0 ] || TABLE+=("#(f) X gzip'd, LZF, dense: skipped (BENCH_VARIANTS=0)")
variant_rows
if [ -n "${SRC[big]:-}" ]; then
	TABLE+=("#(e) $(describe "$BIG_CELLS" "$BIG_GENES" "$BIG_PER_CELL" "$BIG_DATA")")
	big_rows
else
	TABLE+=("#(e) $(group "$BIG_CELLS") cells: ${SKIPPED[big]}")
fi
NOTES+=("load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)")
MD="## \`$COMMAND\`"$'\n\n'
grid "cellucidfs bench — $(describe "$CELLS" "$GENES" "$PER_CELL" "$DATA"), $(nproc) cores" \
	"measure|cellucidfs|reference (Python) / compared|bar|met" "${TABLE[@]}"
scaling_rows small main big
grid "scaling: cells × genes × values/cell (file)" \
	"measure|$(group "$SMALL_CELLS") cells|$(group "$CELLS") cells|$(group "$BIG_CELLS") cells" "${SCALING[@]}"
section ""
total=0
for t in "${TIMES[@]}"; do total=$(awk -v a="$total" -v b="${t##*|}" 'BEGIN { print a + b }'); done
grid "wall time per section" "section|wall time" "${TIMES[@]}" "total|$(fmt s "$total")"
print_notes
printf '%s' "$MD" >"$OUT/results.md"
say "Markdown tables: ${OUT#"$ROOT"/}/results.md; logs: ${OUT#"$ROOT"/}/*.log"
