# shellcheck shell=bash
# scripts/bench/data.sh - sourced by scripts/bench.sh: the bench's datasets
# (made once by build/gen-h5ad or scripts/bench/to_zarr.py, kept in
# build/data, never in the repository), the room their runs need, where the
# copies go, and reading a dataset into the page cache before a timed step.
#
#   DATA=$(dataset_path 100000 20000 800)     # build/data/bench-100k.h5ad
#   why=$(room 100000 20000 800 "$DATA" 3)    # empty: there is room
#   generate 100000 20000 800 "$DATA"; settle "$DATA"

# dataset_path CELLS GENES PER_CELL: where that dataset (seed SEED) is kept.
dataset_path() {
	case "$1/$2/$3/$SEED" in
	10000/20000/800/3) echo "$DATA_DIR/bench-10k.h5ad" ;;
	100000/20000/800/3) echo "$DATA_DIR/bench-100k.h5ad" ;;
	1000000/2000/1000/3) echo "$DATA_DIR/bench-1m.h5ad" ;;
	*) echo "$DATA_DIR/bench-$1c-$2g-$3k-s$SEED.h5ad" ;;
	esac
}

# X (float32 value + int32 index per stored value) plus about 600 bytes a
# cell of obs, obsm and obsp: gen-h5ad's output size, give or take a few %.
data_bytes() { echo $(($1 * $3 * 8 + $1 * 600)); }

# Disk the runs of one mount need at most: the gene index (its scratch file
# and the merged copy, 8 bytes per stored value each) and, twice (cache and
# copy), every gene file uncompressed (one byte per cell and gene).
work_bytes() { echo $((2 * $1 * $3 * 8 + 2 * $1 * $2 + (1 << 30))); }

avail_bytes() { df --output=avail -B1 "$1" | tail -n 1 | tr -d ' '; }

gb() { awk -v b="$1" 'BEGIN { printf "%.1f GB", b / 1e9 }'; }

# room CELLS GENES PER_CELL DATA CACHES: empty when the disk has room for
# the dataset and CACHES cache_dirs of it at once (the warm ones are kept
# until (a) warm is done), else why not.
room() {
	local need_data=0 need_tmp
	[ -s "$4" ] || need_data=$(data_bytes "$1" "$2" "$3")
	need_tmp=$(($(work_bytes "$1" "$2" "$3") * $5))
	if [ "$(df --output=target "$DATA_DIR" | tail -n 1)" = "$(df --output=target "$TMP" | tail -n 1)" ]; then
		need_tmp=$((need_tmp + need_data)) need_data=0
	fi
	if [ "$need_data" -gt "$(avail_bytes "$DATA_DIR")" ]; then
		echo "needs $(gb "$need_data") free in $DATA_DIR, has $(gb "$(avail_bytes "$DATA_DIR")")"
	elif [ "$need_tmp" -gt "$(avail_bytes "$TMP")" ]; then
		echo "needs $(gb "$need_tmp") free in $TMP, has $(gb "$(avail_bytes "$TMP")")"
	fi
}

# copy_base BYTES: where the copies go - BENCH_COPYDIR when set, else
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

# made WHAT T0: a note saying how long making WHAT took.
made() { NOTES+=("made ${1#"$ROOT"/} in $(awk -v a="$2" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"); }

# generate CELLS GENES PER_CELL DATA [GEN-OPTION...]: make the dataset
# unless it is there (gen-h5ad writes DATA.part and renames it, so DATA is
# always complete).
generate() {
	local t0 out=$4
	[ -s "$out" ] && return 0
	say "generating $out ($1 cells x $2 genes x $3 values/cell${5:+, ${*:5}})"
	t0=$EPOCHREALTIME
	"$GEN" --cells "$1" --genes "$2" --per-cell "$3" --seed "$SEED" "${@:5}" "$out" >&2
	made "$out" "$t0"
}

# to_zarr DATA ZDATA: the Zarr copy of DATA, unless it is there.
to_zarr() {
	local t0
	[ -d "$2" ] && return 0
	say "writing $2 (write_zarr, Blosc-lz4)"
	t0=$EPOCHREALTIME
	"$PY" "$ROOT/scripts/bench/to_zarr.py" "$1" "$2" >&2 || return 1
	made "$2" "$t0"
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

# size_of DATA: a file's or a store's bytes, as "683 MB".
size_of() {
	awk -v b="$(du -s -B1 --apparent-size "$1" | cut -f1)" \
		'BEGIN { printf(b < 1e9 ? "%.0f MB" : "%.1f GB", b < 1e9 ? b / 1e6 : b / 1e9) }'
}
