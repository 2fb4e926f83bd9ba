#!/usr/bin/env bash
# tests/options.sh - the mount options that choose what is exposed, on the
# real pbmc68k_reduced.h5ad and a copy with a string var column and a layer:
# expression=raw and expression=layer:NAME (gene files checked against the
# matrix with h5py), raw.X of an anndata 0.6 file, gene_id_column=COL,
# obs_keys=a:b, and a one-line refusal for every value that names nothing.
#
#   $ bash tests/options.sh
#   ok expression=raw float32: every gene equals its raw/X column
#   ...
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
LEGACY=$FIXTURES/pbmc68k_reduced_legacy.h5ad
Q8=$REFERENCE/pbmc68k_reduced-c6-q8
mount_test_setup "option tests"
OPTS="$PY $ROOT/tests/options.py"
GENES=$T/genes.h5ad   # gene_ids column, layers/counts = raw/X as CSC
$OPTS make "$PBMC" "$GENES" || fail "make $GENES"

# options.py reads payloads by {key} path: every mount here asks for layout=names.
# --- expression=raw: raw/X, exactly in float32, within a step in 8 bits
if mount_fs "$PBMC" "$T/mnt" -o layout=names,expression=raw,var_quantization=none,compression=0; then
	$OPTS genes "$T/mnt" "$PBMC" raw/X "expression=raw float32" || true
	unmount_fs "$T/mnt"
else
	fail "mount with -o expression=raw,var_quantization=none,compression=0"
fi
if mount_fs "$PBMC" "$T/mnt" -o layout=names,expression=raw; then
	$OPTS genes "$T/mnt" "$PBMC" raw/X "expression=raw 8-bit" || true
	check "expression=raw: not X's values" bash -c \
		"! cmp -s <(gunzip -c '$T/mnt/var/HES4.values.u8.gz') <(gunzip -c '$Q8/var/HES4.values.u8.gz')"
	cp -r "$T/mnt/var" "$T/raw_var"
	unmount_fs "$T/mnt"
else
	fail "mount with -o expression=raw"
fi
if [ -f "$LEGACY" ] && mount_fs "$LEGACY" "$T/mnt" -o layout=names,expression=raw; then
	check "expression=raw on an anndata 0.6 file (raw.X, raw.var): the same gene files" \
		diff -r "$T/raw_var" "$T/mnt/var"
	unmount_fs "$T/mnt"
else
	fail "mount $LEGACY with -o expression=raw"
fi

# --- expression=layer:counts (CSC)
if mount_fs "$GENES" "$T/mnt" -o layout=names,expression=layer:counts,var_quantization=none,compression=0; then
	$OPTS genes "$T/mnt" "$GENES" layers/counts "expression=layer:counts" || true
	unmount_fs "$T/mnt"
else
	fail "mount with -o expression=layer:counts"
fi

# --- gene_id_column: a string column, and a float32 one (names as str())
if mount_fs "$GENES" "$T/mnt" -o layout=names,gene_id_column=gene_ids; then
	$OPTS names "$T/mnt" "$GENES" gene_ids "gene_id_column=gene_ids" || true
	check "gene_id_column=gene_ids: ENSG00000 is HES4's file" \
		cmp <(gunzip -c "$T/mnt/var/ENSG00000.values.u8.gz") <(gunzip -c "$Q8/var/HES4.values.u8.gz")
	unmount_fs "$T/mnt"
else
	fail "mount with -o gene_id_column=gene_ids"
fi
if mount_fs "$PBMC" "$T/mnt" -o layout=names,gene_id_column=n_counts; then
	$OPTS names "$T/mnt" "$PBMC" n_counts "gene_id_column=n_counts" || true
	unmount_fs "$T/mnt"
else
	fail "mount with -o gene_id_column=n_counts"
fi

# --- obs_keys: exactly these fields, in column order (export-format.md §2)
if mount_fs "$PBMC" "$T/mnt" -o layout=names,obs_keys=louvain:n_genes; then
	check "obs_keys=louvain:n_genes: identity lists n_genes, louvain (column order)" $PY -c "
import json, sys
d = json.load(open('$T/mnt/dataset_identity.json'))
sys.exit([f['key'] for f in d['obs_fields']] != ['n_genes', 'louvain'])"
	check "obs_keys=louvain:n_genes: only their files" test \
		"$(ls "$T/mnt/obs" | tr '\n' ' ')" = "louvain.codes.u8.gz louvain.outliers.u8.gz n_genes.values.u8.gz "
	check "obs_keys=louvain:n_genes: louvain codes as in the reference" \
		cmp <(gunzip -c "$T/mnt/obs/louvain.codes.u8.gz") <(gunzip -c "$Q8/obs/louvain.codes.u8.gz")
	unmount_fs "$T/mnt"
else
	fail "mount with -o obs_keys=louvain:n_genes"
fi

# --- refusals: one clear line, non-zero status, no mount
mkdir -p "$T/mnt"
refused "expression=layer:counts without layers is refused" \
	"expression=layer:counts: no layer 'counts' (layers: none)" "$PBMC" "$T/mnt" -o expression=layer:counts
refused "a missing layer is refused, listing the layers" \
	"expression=layer:spliced: no layer 'spliced' (layers: counts)" "$GENES" "$T/mnt" -o expression=layer:spliced
refused "expression=bogus is refused" \
	"bad value 'bogus' for expression (X, raw or layer:NAME)" "$PBMC" "$T/mnt" -o expression=bogus
refused "a missing gene_id_column is refused, listing the columns" \
	"gene_id_column=nope: var has no column 'nope' (columns: n_counts, means, dispersions, dispersions_norm, highly_variable)" \
	"$PBMC" "$T/mnt" -o gene_id_column=nope
refused "gene_id_column with expression=raw names a raw/var column" \
	"gene_id_column=gene_ids: raw/var has no column 'gene_ids' (columns: none)" \
	"$GENES" "$T/mnt" -o expression=raw,gene_id_column=gene_ids
refused "an unknown obs key is refused, listing the columns" \
	"obs_keys=louvain:nope: no obs column 'nope' (columns: bulk_labels, n_genes, percent_mito, n_counts, S_score, G2M_score, phase, louvain)" \
	"$PBMC" "$T/mnt" -o obs_keys=louvain:nope
refused "a repeated obs key is refused" \
	"bad value 'louvain:louvain' for obs_keys ('louvain' twice)" "$PBMC" "$T/mnt" -o obs_keys=louvain:louvain
refused "an empty obs key is refused" \
	"bad value 'louvain:' for obs_keys (an empty key)" "$PBMC" "$T/mnt" -o obs_keys=louvain:
finish
