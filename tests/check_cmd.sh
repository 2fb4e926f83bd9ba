#!/usr/bin/env bash
# tests/check_cmd.sh - "cellucidfs check": the report on the real fixtures
# (layout, fields, what is left out and why, sizes against a real export),
# the same refusals as a mount, bad arguments, damaged data, and nothing
# written to a cache.
#
#   $ bash tests/check_cmd.sh
#   ok check pbmc68k_reduced: exit status 0
#   ok check pbmc68k_reduced: 700 cells
#   ...
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
if [ ! -f "$PBMC" ]; then skip "check command: $FIXTURES absent (../shared not beside the repo)"; exit 0; fi

T=$(mktemp -d)
trap 'mountpoint -q "$T/mnt" 2>/dev/null && fusermount3 -u "$T/mnt"; rm -rf "$T"' EXIT
# Any cache would land here; check must leave both alone.
export XDG_CACHE_HOME=$T/xdg HOME=$T/home

# report "what" SOURCE [args...]: run check, keep stdout in $out, stderr in
# $err, the exit status in $status.
report() {
	local what=$1; shift
	out=$("$BIN" check "$@" 2>"$T/err"); status=$?
	err=$(cat "$T/err")
	label=$what
}
has() { # has "what" REGEX: a line of the last report matches
	if grep -qE -- "$2" <<<"$out"; then ok "$label: $1"; else fail "$label: $1: no line matching '$2'"; fi
}
refused_check() { # refused_check "what" STATUS "message part" args...: one line on stderr, nothing on stdout
	local what=$1 want_status=$2 want=$3; shift 3
	report "$what" "$@"
	if [ "$status" -eq "$want_status" ] && [ -z "$out" ] && [ "$(wc -l <<<"$err")" -eq 1 ] &&
		grep -qF -- "$want" <<<"$err"; then
		ok "$what"
	else
		fail "$what: status $status, stderr: $err"
	fi
}
lacks() { ! grep -qF -- "$1" <<<"$2"; } # lacks TEXT STRING
# bytes N.N kB: a size from the report, in bytes.
bytes() { awk -v v="$1" -v u="$2" 'BEGIN { m = u == "B" ? 1 : u == "kB" ? 1e3 : u == "MB" ? 1e6 : 1e9; printf "%.0f", v * m }'; }
# near A B PERCENT: A within PERCENT % of B
near() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= b * p / 100) }'; }

# --- pbmc68k_reduced: what the reference export has
report "check pbmc68k_reduced" "$PBMC"
check "$label: exit status 0" test "$status" -eq 0
has "700 cells" '^cells +700$'
has "765 genes" '^genes +765$'
has "2-D embedding from X_umap" '^embeddings +2-D from obsm X_umap$'
check "$label: no other embedding" test "$(grep -c -- '-D from obsm' <<<"$out")" -eq 1
has "latent X_pca, 50 dimensions" '^latent space +obsm X_pca, 50 dimensions'
has "connectivity present" '^connectivity +obsp/connectivities'
has "8 obs fields" '^obs fields \(8\)$'
for f in "bulk_labels +categorical, 10 categories" "phase +categorical, 3 categories" \
	"louvain +categorical, 11 categories" "n_genes +continuous" "percent_mito +continuous" \
	"n_counts +continuous" "S_score +continuous" "G2M_score +continuous"; do
	has "field ${f%% *}" "^  $f\$"
done
has "nothing left out" '^left out \(0\)$'
has "the layout and who reads it" '^layout +index: for the current Cellucid viewer'
has "the layout and who writes it" '^ +and as the newest cellucid-python prepare\(\) writes it$'
has "787 files in all" '^  total +787 '
check "$label: progress only on stderr" test "$(grep -vc 'reading X once' <<<"$err")" -eq 0
check "$label: no cache written" test ! -e "$T/xdg" -a ! -e "$T/home"

# The sizes against what export writes: uncompressed exact (to the 0.1 kB
# shown), the estimate of the gzip'd genes within 10 %.
if "$BIN" export "$PBMC" "$T/out" -o cache_dir=none 2>/dev/null; then
	served=$(find "$T/out" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
	raw=$(find "$T/out" -type f -exec gzip -dcf {} + | wc -c)
	read -r _ _ r ru tilde p pu _ < <(grep '^  total ' <<<"$out")
	check "$label: the uncompressed total is exact" near "$(bytes "$r" "$ru")" "$raw" 0.02
	check "$label: the size is marked as an estimate" test "$tilde" = "~"
	check "$label: the estimated size is within 10 % of the export's" near "$(bytes "$p" "$pu")" "$served" 10
else
	fail "$label: export pbmc68k_reduced.h5ad for the sizes"
fi

report "check -o compression=0" "$PBMC" -o compression=0,var_quantization=16
check "$label: exit status 0" test "$status" -eq 0
has "settings in the heading" '^export size \(no compression, genes 16-bit, obs 8-bit\)$'
check "$label: without compression no size is estimated" lacks "~" "$out"

report "check -o embedding=X_pca" "$PBMC" -o embedding=X_pca
has "3-D from the first 3 of 50 columns" '^embeddings +3-D from obsm X_pca \(first 3 of 50 columns\)$'

report "check -o layout=names" "$PBMC" -o layout=names
has "the layout and who reads it" "^layout +names: the 0.9 exporter's layout, for viewer builds before the strict loader$"
has "786 files in all (no weights)" '^  total +786 '
has "no weights file in the graph row" '^  graph +3 '

report "check -o cache_dir=DIR" "$PBMC" -o "cache_dir=$T/given"
check "$label: a cache directory given is used" test -d "$T/given"

# --- left out, and no latent space: a copy with a twin obs field, a twin
# gene name and no X_pca
if $PY - "$PBMC" "$T/odd.h5ad" <<'EOF'
import shutil, sys
import h5py
shutil.copyfile(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    obs = f["obs"]
    obs.copy("n_counts", "n counts")
    obs.attrs["column-order"] = list(obs.attrs["column-order"]) + ["n counts"]
    names = f["var/index"]
    names[1] = names[0]
    del f["obsm/X_pca"]
EOF
then
	report "check a file with twins and no latent space" "$T/odd.h5ad" -o layout=names
	check "$label: exit status 0" test "$status" -eq 0
	has "one gene fewer" '^genes +764 of 765 in var'
	has "two things left out" '^left out \(2\)$'
	has "the twin field and why" "^  obs field 'n counts' left out: its file name 'n_counts' is already used"
	has "the twin gene and why" "^  gene 'HES4' left out: its file name 'HES4' is already used"
	has "no latent space, and what that means" '^latent space +none: .*outlier'
	check "$label: the warnings are not on stderr" lacks "left out" "$err"
else
	skip "check a file with twins: h5py cannot write the copy"
fi

# --- control characters in names: printed escaped, by check and in the log
# (a terminal escape in an obs key must not drive the terminal)
if $PY - "$PBMC" "$T/ctl.h5ad" <<'PYEOF'
import shutil, sys
import h5py
shutil.copyfile(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    obs = f["obs"]
    obs.copy("n_counts", "red\x1b[31mkey")
    g = obs.create_group("bad\x1b]0;title\x07")    # no encoding: left out, with a warning
    obs.attrs["column-order"] = list(obs.attrs["column-order"]) + ["red\x1b[31mkey", "bad\x1b]0;title\x07"]
PYEOF
then
	report "check names with control characters" "$T/ctl.h5ad"
	has "a served field's name escaped" '^  red\\x1b\[31mkey +continuous'
	has "a left-out field's name escaped in its warning" "^  obs field 'bad\\\\x1b\]0;title\\\\x07' left out"
	check "$label: no raw control character reaches the terminal" \
		bash -c "! LC_ALL=C grep -q \$'[\x01-\x08\x0b-\x1f\x7f]' <<<\"\$1\"" _ "$out$err"
	mkdir -p "$T/mnt"
	if have_fuse && mount_fs "$T/ctl.h5ad" "$T/mnt" -o cache_dir=none,prefetch=none; then
		check "the mount's log has the left-out warning, escaped" \
			grep -qF "obs field 'bad\\x1b]0;title\\x07' left out" "$MOUNT_LOG"
		check "the mount's log holds no raw control character" \
			bash -c "! LC_ALL=C grep -q \$'[\x01-\x08\x0b-\x1f\x7f]' \"\$1\"" _ "$MOUNT_LOG"
		unmount_fs "$T/mnt"
	else
		skip "control characters in the mount's log: cannot mount"
	fi
else
	skip "check names with control characters: h5py cannot write the copy"
fi

# --- a small file claiming 134 M cells: refused at once, before anything is
# allocated for them (it took 3 GB and 20 s), by check and by a mount
if $PY - "$T/lie.h5ad" <<'PYEOF'
import sys
import h5py, numpy as np
sys.path.insert(0, "tests")
from gen_cases import enc, write_dataframe
N = 2**27
with h5py.File(sys.argv[1], "w") as f:
    enc(f, "anndata", "0.1.0")
    obs = write_dataframe(f, "obs", ["c"], [])
    del obs["_index"]     # 134 M names that take no byte: chunks never written
    ix = obs.create_dataset("_index", shape=(N,), dtype=h5py.string_dtype("utf-8"),
                            chunks=(65536,), compression="gzip")
    enc(ix, "string-array", "0.2.0")
    write_dataframe(f, "var", ["g1"], [])
    obsm = f.create_group("obsm")
    enc(obsm, "dict", "0.1.0")
    enc(obsm.create_dataset("X_umap", shape=(N, 2), dtype="f4", chunks=(65536, 2),
                            compression="gzip"), "array", "0.2.0")
PYEOF
then
	bytes=$(stat -c %s "$T/lie.h5ad")
	out=$(timeout 20 "$BIN" check "$T/lie.h5ad" 2>&1); status=$?
	check "a $bytes-byte file claiming 134217728 cells: check refuses it at once (status $status)" \
		test "$status" -eq 1
	check "naming what is claimed against what the file holds" \
		grep -qE "obs/_index: claims 134217728 values \(.*\) of which the file holds 0 B: refused" <<<"$out"
	refused "and a mount refuses it" "obs/_index: claims 134217728 values" "$T/lie.h5ad" "$T/mnt"
else
	skip "a file claiming 134 M cells: h5py cannot write it"
fi

# --- a damaged X: listed, status 1
if $PY tests/damage_x.py "$PBMC" "$T/damaged.h5ad"; then
	report "check a file with a damaged X" "$T/damaged.h5ad"
	check "$label: exit status 1" test "$status" -eq 1
	has "the genes that cannot be generated" '^  cannot generate var/.*read failed'
	has "no size for them" '^  genes +766 +\? +\?'
fi

# --- refusals: the mount's messages
echo "not hdf5" >"$T/bogus.h5ad"
refused_check "check refuses a non-HDF5 file" 1 "cannot open $T/bogus.h5ad: not an HDF5 file" "$T/bogus.h5ad"
refused_check "check refuses a missing file" 1 "cannot open $T/none.h5ad: No such file or directory" "$T/none.h5ad"
if [ -f "$FIXTURES/anndata_archive_v0.11.4.h5ad" ]; then
	refused_check "check refuses a file without embedding" 1 "anndata_archive_v0.11.4.h5ad: no embedding: " \
		"$FIXTURES/anndata_archive_v0.11.4.h5ad"
fi
refused_check "check refuses a directory" 1 "cannot open $FIXTURES: a directory" "$FIXTURES"
refused_check "check refuses an unknown embedding key" 1 "embedding=X_nope: no such obsm key" "$PBMC" -o embedding=X_nope
refused_check "check refuses compression=12" 2 "bad value '12' for compression" "$PBMC" -o compression=12
refused_check "check refuses an unknown option" 2 "unknown option 'bogus'" "$PBMC" -o bogus
refused_check "check refuses a second argument" 2 "unexpected argument 'extra'" "$PBMC" extra
refused_check "check refuses an unknown flag" 2 "unexpected argument '-x'" "$PBMC" -x
report "check without SOURCE"
check "check without SOURCE prints the usage, status 2" test "$status" -eq 2 -a -z "$out"
check "check without SOURCE: the usage names check" grep -q "cellucidfs check SOURCE" <<<"$err"
out=$("$BIN" check -h); status=$?
check "check -h prints the usage, status 0" test "$status" -eq 0
finish
