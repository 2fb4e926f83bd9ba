# shellcheck shell=bash
# scripts/bench/variants.sh - sourced by scripts/bench.sh: the main
# dataset's data with X as people's files have it (issue 17) - gzip (h5py's
# compression="gzip": its default chunking, deflate level 4), LZF, dense
# chunked - made by gen-h5ad from the same seed and kept beside it in
# build/data. scripts/bench.sh runs them interleaved with the plain file
# (viewer-ready with an empty cache_dir, cp -r of a fresh mount, `cellucidfs
# export`); these rows put each beside the plain file's figure, with the bar
# "≤ 130 %" for gzip and LZF:
#
#   (f) gzip X: viewer-ready, empty / plain   123 %   0.81 s / 0.66 s   ≤ 130 %   yes

VARIANTS=(gzip lzf dense)
# dense is gzip'd too: 100 000 x 20 000 float32 plain would be an 8 GB file.
declare -A VARIANT_OPT=([gzip]="--x-compression gzip" [lzf]="--x-compression lzf"
	[dense]="--x-dense --x-compression gzip")

# variant_path DATA NAME: where the variant of DATA is kept.
variant_path() { echo "${1%.h5ad}-$2.h5ad"; }

# variant_generate CELLS GENES PER_CELL NAME DATA: make the variant unless it is there.
variant_generate() {
	# shellcheck disable=SC2086 # the options are words
	generate "$1" "$2" "$3" "$5" ${VARIANT_OPT[$4]}
}

# variant_rows: each variant's three figures beside the plain file's.
variant_rows() {
	local v m what
	for v in "${VARIANTS[@]}"; do
		[ -n "${SRC[$v]:-}" ] || continue
		TABLE+=("#(f) X as $v, the same data (build/data/${SRC[$v]##*/}, $(size_of "${SRC[$v]}"))")
		for m in "ready_empty|viewer-ready, empty cache_dir" "cp_seconds|cp -r of the mount" "export|cellucidfs export"; do
			IFS='|' read -r m what <<<"$m"
			# The issue's bar is for the compressed CSR files; dense X has none.
			if [ "$v" = dense ]; then
				cmp_row "(f) $v X: $what / plain" s "${R[$v.$m]:-}" "${R[main.$m]:-}"
			else
				cmp_row "(f) $v X: $what / plain" s "${R[$v.$m]:-}" "${R[main.$m]:-}" "≤ 130 %" le 130
			fi
		done
	done
}
