#!/usr/bin/env bash
# tests/gen_variants.sh - gen-h5ad's X variants (scripts/gen-h5ad/): gzip
# (h5py's compression="gzip": deflate level 4, no shuffle), LZF, dense
# chunked, dense gzip. Each holds the same matrix and the same everything else
# as the plain CSR file (read by h5py, which has its own LZF filter), in the
# chunks and filters h5py would have written; `cellucidfs export` of each
# gives the same tree as of the plain file; and a variant is generated to the
# same bytes twice.
source "$(dirname "$0")/lib.sh"

GEN=$ROOT/build/gen-h5ad
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ARGS=(--cells 2000 --genes 300 --per-cell 40 --seed 11)
declare -A OPT=([plain]="" [gzip]="--x-compression gzip" [lzf]="--x-compression lzf"
	[dense]="--x-dense" [densegz]="--x-dense --x-compression gzip")
# One directory each, the same file name: the export's dataset id is the name.
for v in plain gzip lzf dense densegz; do
	mkdir "$T/$v"
	# shellcheck disable=SC2086 # the options are words
	check "gen-h5ad: the $v variant" "$GEN" "${ARGS[@]}" ${OPT[$v]} "$T/$v/data.h5ad"
	touch -d @1700000000 "$T/$v/data.h5ad" # dataset_identity.json's created_at
done
mkdir "$T/again"
"$GEN" "${ARGS[@]}" --x-compression lzf "$T/again/data.h5ad" >/dev/null
check "gen-h5ad: the lzf variant twice gives the same bytes" cmp "$T/lzf/data.h5ad" "$T/again/data.h5ad"
refuses_zstd() {
	local out
	! out=$("$GEN" --x-compression zstd "$T/bad.h5ad" 2>&1) &&
		grep -q "^gen-h5ad: --x-compression needs none, gzip or lzf, not 'zstd'$" <<<"$out" &&
		! test -e "$T/bad.h5ad"
}
check "gen-h5ad: an unknown --x-compression is refused with one line" refuses_zstd

if $PY -c 'import h5py, numpy' 2>/dev/null; then
	check "h5py: every variant holds the plain file's X and all else, in h5py's chunks and filters" $PY - "$T" <<'EOF'
import sys, h5py, numpy as np
from h5py._hl.filters import guess_chunk
d = sys.argv[1]

def dense_x(f):
    x = f["X"]
    if isinstance(x, h5py.Dataset):
        return x[()]
    m = np.zeros(tuple(x.attrs["shape"]), dtype=np.float32)
    data, ind, ptr = x["data"][()], x["indices"][()], x["indptr"][()]
    for r in range(m.shape[0]):
        m[r, ind[ptr[r]:ptr[r + 1]]] = data[ptr[r]:ptr[r + 1]]
    return m

def rest(f):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.startswith("X"):
            out[name] = obj[()]
    f.visititems(visit)
    return out

def expect(ds, compression, opts):
    assert ds.chunks == guess_chunk(ds.shape, ds.maxshape, ds.dtype.itemsize), (ds.name, ds.chunks)
    assert ds.compression == compression and ds.compression_opts == opts, (ds.name, ds.compression)
    assert not ds.shuffle and not ds.fletcher32, ds.name

plain = h5py.File(f"{d}/plain/data.h5ad", "r")
ref, ref_rest = dense_x(plain), rest(plain)
assert np.count_nonzero(ref) == 2000 * 40
for v, comp, opts in [("plain", None, None), ("gzip", "gzip", 4), ("lzf", "lzf", None),
                      ("dense", None, None), ("densegz", "gzip", 4)]:
    f = h5py.File(f"{d}/{v}/data.h5ad", "r")
    assert np.array_equal(dense_x(f), ref), v
    other = rest(f)
    assert other.keys() == ref_rest.keys(), v
    for k in other:
        assert np.array_equal(other[k], ref_rest[k], equal_nan=other[k].dtype.kind == "f"), (v, k)
    x = f["X"]
    if v.startswith("dense"):
        assert isinstance(x, h5py.Dataset) and x.attrs["encoding-type"] == "array", v
        expect(x, comp, opts)
    else:
        for part in ("data", "indices", "indptr"):
            expect(x[part], comp, opts)
EOF
else
	skip "h5py: the variants' contents: no python3-h5py"
fi

"$BIN" export "$T/plain/data.h5ad" "$T/out-plain" -o cache_dir=none 2>"$T/export.log" </dev/null
check "export the plain file" test $? -eq 0
for v in gzip lzf dense densegz; do
	"$BIN" export "$T/$v/data.h5ad" "$T/out-$v" -o cache_dir=none 2>>"$T/export.log" </dev/null
	check "export of the $v variant is the plain file's tree" diff -r "$T/out-plain" "$T/out-$v"
done
finish
