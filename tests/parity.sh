#!/usr/bin/env bash
# tests/parity.sh - a default mount (layout=index) decodes equal to what the
# newest cellucid-python prepare() writes (docs/export-rules.md), checked by
# tests/parity.py, which computes the reference's rules itself with numpy:
# pbmc68k_reduced (X_umap 2-D, X_pca latent, obsp/connectivities,
# compression 6, 8-bit), then small hand-made files with the cases the
# reference refuses or where its arithmetic matters, each also against
# figures worked out by hand: a constant field and gene ([v, v], codes 0), a
# maximum that float32 put at 253, a code the 1e-8 lifts, NaN and ±Inf
# (served as missing, with a warning check shows), a directed graph with a
# self-loop (symmetrised by max, the self-loop left out, warned), a
# symmetric graph (weights C[i,j], not doubled), and the code widths (255
# categories in uint8, 256 in uint16), and a vector field (scaled like the
# points, in float64).
#
#   $ bash tests/parity.sh
#   ok pbmc: the tree holds exactly the reference's 784 files
#   ...
source "$(dirname "$0")/lib.sh"

mount_test_setup "parity with the newest exporter"

# parity SOURCE LABEL [EXPECT.json]: mount SOURCE with no option, compare.
parity() {
	if mount_fs "$1" "$T/mnt" -o cache_dir=none; then
		$PY tests/parity.py "$T/mnt" "$1" "$2" ${3:+--expect "$3"} || failures=$((failures + 1))
		unmount_fs "$T/mnt"
	else
		fail "$2: mount with default options"
	fi
}

parity "$FIXTURES/pbmc68k_reduced.h5ad" pbmc

# --- hand-made: 40 cells, every case at once
$PY - "$T/cases.h5ad" "$T/cases.json" <<'PYEOF'
import json, sys, warnings
warnings.filterwarnings("ignore")
import anndata, numpy as np, pandas as pd, scipy.sparse as sp

n = 40
rng = np.random.default_rng(11)
obs = pd.DataFrame(index=[f"c{i}" for i in range(n)])
obs["const"] = np.full(n, 3.5, dtype=np.float32)
# the maximum 1.5271801948547363: 254.0 in float64, 253.99998 in float32
obs["top"] = np.where(np.arange(n) % 2, np.float32(1.5271801948547363), 0).astype(np.float32)
# min 0.1, max 25.5: 8.5 is 83.99999999002678 -> 84 with the 1e-8
nudge = np.full(n, 12.0, dtype=np.float32)
nudge[:4] = [0.1, 25.5, 8.5, 8.45]
obs["nudge"] = nudge
withnan = rng.uniform(1, 2, n).astype(np.float32)
withnan[[1, 5]] = np.nan
withnan[7] = np.inf
obs["withnan"] = withnan
obs["group"] = pd.Categorical(["a"] * 14 + ["b"] * 13 + ["c"] * 13)
obs["label"] = np.array(["x", "y"] * 20, dtype=object)
x = rng.uniform(0, 5, (n, 4)).astype(np.float32)
x[:, 0] = 2.0
x[:4, 1] = [0.1, 25.5, 8.5, 8.45]
x[4:, 1] = 3.0
x[3, 2] = np.nan
var = pd.DataFrame(index=["g0", "g1", "g2", "g3"])
# a directed kNN graph: 0->1 0.5 and 1->0 0.25, 2->3 0.75 only, a self-loop
# at 4, 5<->6 0.125, and a symmetric ring 7..39 of 0.5
rows, cols, vals = [0, 1, 2, 4, 5, 6], [1, 0, 3, 4, 6, 5], [0.5, 0.25, 0.75, 1.0, 0.125, 0.125]
ring = list(range(7, n))
for a, b in zip(ring, ring[1:] + ring[:1]):
    rows += [a, b]; cols += [b, a]; vals += [0.5, 0.5]
c = sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(n, n))
ad = anndata.AnnData(X=x, obs=obs, var=var)
ad.obsm["X_umap"] = rng.normal(size=(n, 2)).astype(np.float32)
ad.obsm["X_pca"] = rng.normal(size=(n, 5)).astype(np.float32)
ad.obsm["velocity_umap"] = rng.normal(size=(n, 2)).astype(np.float32)
ad.obsp["connectivities"] = c
ad.write_h5ad(sys.argv[1])

ring_edges = sorted((min(a, b), max(a, b)) for a, b in zip(ring, ring[1:] + ring[:1]))
json.dump({
    "codes": {
        "obs/0.values.u8.gz": [0] * n,                       # const
        "obs/1.values.u8.gz": [0, 254, 0, 254],              # top
        "obs/2.values.u8.gz": [0, 254, 84, 83],              # nudge
        "var/0.values.u8.gz": [0] * n,                       # constant gene
        "var/1.values.u8.gz": [0, 254, 84, 83],
    },
    "missing": {"obs/3.values.u8.gz": [1, 5, 7], "var/2.values.u8.gz": [3]},
    "weights": {"connectivity/edges.weights.f64.bin.gz":
                [0.5, 0.75, 0.125] + [0.5] * len(ring_edges)},
    "json": {
        "obs_manifest.json:_continuousFields.0": [0, "const", 3.5, 3.5],
        "obs_manifest.json:_continuousFields.1": [1, "top", 0.0, 1.5271801948547363],
        "obs_manifest.json:_categoricalFields.0.0": 4,
        "obs_manifest.json:_categoricalFields.1.0": 5,
        "var_manifest.json:fields.0": [0, "g0", 2.0, 2.0],
        "var_manifest.json:var_gene_id_column": None,
        "connectivity_manifest.json:n_edges": 3 + len(ring_edges),
        "connectivity_manifest.json:max_neighbors": 2,
        "dataset_identity.json:obs_fields.4": {"key": "group", "kind": "category",
                                                "n_categories": 3},
        "dataset_identity.json:vector_fields.fields.velocity_umap":
            {"label": "velocity_umap", "available_dimensions": [2], "default_dimension": 2,
             "files": {"2d": "vectors/0_2d.bin.gz"}, "basis": "umap"},
    }}, open(sys.argv[2], "w"))
PYEOF
parity "$T/cases.h5ad" cases "$T/cases.json"

# --- code widths: 255 categories fit uint8 (codes 0..254, 255 missing), 256 need uint16
$PY - "$T/wide.h5ad" "$T/wide.json" <<'PYEOF'
import json, sys, warnings
warnings.filterwarnings("ignore")
import anndata, numpy as np, pandas as pd
n = 300
rng = np.random.default_rng(5)
obs = pd.DataFrame(index=[f"c{i}" for i in range(n)])
obs["c255"] = pd.Categorical([f"k{i % 255:03d}" for i in range(n)])
obs["c256"] = pd.Categorical([f"k{i % 256:03d}" for i in range(n)])
ad = anndata.AnnData(X=rng.uniform(0, 1, (n, 2)).astype(np.float32), obs=obs)
ad.obsm["X_umap"] = rng.normal(size=(n, 2)).astype(np.float32)
ad.obsm["X_pca"] = rng.normal(size=(n, 3)).astype(np.float32)
ad.write_h5ad(sys.argv[1])
json.dump({"codes": {"obs/0.codes.u8.gz": [0, 1, 2, 3]},
           "json": {"obs_manifest.json:_categoricalFields.0.3": "uint8",
                    "obs_manifest.json:_categoricalFields.0.4": 255,
                    "obs_manifest.json:_categoricalFields.1.3": "uint16",
                    "obs_manifest.json:_categoricalFields.1.4": 65535}}, open(sys.argv[2], "w"))
PYEOF
parity "$T/wide.h5ad" widths "$T/wide.json"

# --- category values keep their JSON type (numpy's .item()): integers,
# float32 widened to double, float64 by repr(), booleans (a bool column and a
# nullable one with a missing cell); a field with no value is left out, so
# the continuous field after it is number 5
$PY - "$T/typed.h5ad" "$T/typed.json" <<'PYEOF'
import json, sys, warnings
warnings.filterwarnings("ignore")
import anndata, numpy as np, pandas as pd
n = 40
rng = np.random.default_rng(3)
obs = pd.DataFrame(index=[f"c{i}" for i in range(n)])
obs["n_cat"] = pd.Categorical(np.arange(n) % 3)
obs["flag"] = np.arange(n) % 2 == 1
maybe = pd.array(np.arange(n) % 4 == 0, dtype="boolean")
maybe[5] = pd.NA
obs["maybe"] = maybe
obs["f32cat"] = pd.Categorical(np.array([0.1, 1.0, 2.5], np.float32)[np.arange(n) % 3])
obs["f64cat"] = pd.Categorical(np.array([1.0, 1e-05, -0.5])[np.arange(n) % 3])
obs["empty"] = np.full(n, np.nan, dtype=np.float32)
obs["score"] = rng.uniform(0, 1, n).astype(np.float32)
x = rng.uniform(0, 1, (n, 3)).astype(np.float32)
x[:, 1] = np.nan            # gene "b": no value anywhere
ad = anndata.AnnData(X=x, obs=obs, var=pd.DataFrame(index=["a", "b", "c"]))
ad.obsm["X_umap"] = rng.normal(size=(n, 2)).astype(np.float32)
ad.obsm["X_pca"] = rng.normal(size=(n, 3)).astype(np.float32)
ad.write_h5ad(sys.argv[1])
cat = "obs_manifest.json:_categoricalFields"
json.dump({"codes": {"obs/2.codes.u8.gz": [1, 0, 0, 0, 1, 255, 0, 0, 1]},
           "json": {f"{cat}.0.2": [0, 1, 2], f"{cat}.1.2": [False, True],
                    f"{cat}.2.2": [False, True],
                    f"{cat}.3.2": [0.10000000149011612, 1.0, 2.5],
                    f"{cat}.4.2": [-0.5, 1e-05, 1.0],
                    f"{cat}.0.5.2.0.category": 0, f"{cat}.1.5.2.1.category": True,
                    f"{cat}.3.5.2.2.category": 2.5,
                    "obs_manifest.json:_continuousFields.0.0": 5,
                    "dataset_identity.json:stats.n_obs_fields": 6,
                    "dataset_identity.json:stats.n_genes": 2,
                    "var_manifest.json:fields.1.0": 1,
                    "var_manifest.json:fields.1.1": "c"}}, open(sys.argv[2], "w"))
PYEOF
parity "$T/typed.h5ad" "typed categories" "$T/typed.json"
out=$("$BIN" check "$T/typed.h5ad" 2>/dev/null)
check "check typed: the obs field with no value is left out, named" \
	grep -q "obs field 'empty' left out of layout=index: it has no value in any cell" <<<"$out"
check "check typed: the gene with no value is left out, named" \
	grep -q "1 gene with no finite value in any cell left out of var_manifest.json: b" <<<"$out"
"$BIN" export "$T/typed.h5ad" "$T/typed-export" >/dev/null 2>&1
check "export typed: var/ holds the two genes with a value, no file for the other" \
	test "$(ls "$T/typed-export/var" 2>&1 | tr '\n' ' ')" = "0.values.u8.gz 1.values.u8.gz "
# the names layout leaves them out too, the gene's file with them
if mount_fs "$T/typed.h5ad" "$T/mnt" -o cache_dir=none,layout=names; then
	check "names layout: the obs field and the gene with no value are left out" $PY -c '
import json, os, sys
m = sys.argv[1]
ident, var = (json.load(open(os.path.join(m, f))) for f in ("dataset_identity.json", "var_manifest.json"))
obs = json.load(open(os.path.join(m, "obs_manifest.json")))
keys = [f[0] for f in obs["_continuousFields"]] + [f[0] for f in obs["_categoricalFields"]]
assert "empty" not in keys and len(keys) == 6, keys
assert [g[0] for g in var["fields"]] == ["a", "c"] and ident["stats"]["n_genes"] == 2, var["fields"]
assert sorted(os.listdir(os.path.join(m, "var"))) == ["a.values.u8.gz", "c.values.u8.gz"]
assert not os.path.exists(os.path.join(m, "var/b.values.u8.gz"))' "$T/mnt"
	unmount_fs "$T/mnt"
else
	fail "names layout: mount typed.h5ad"
fi

# The reference refuses these inputs; check says what was done instead.
out=$("$BIN" check "$T/cases.h5ad" 2>/dev/null)
check "check cases: the asymmetric graph is named, symmetrised by max" \
	grep -q "the kNN graph is not symmetric (2 cell pairs .*larger of C\[i,j\] and C\[j,i\]" <<<"$out"
check "check cases: the self-loop left out is named" grep -q "1 self-loop of the kNN graph" <<<"$out"
check "check cases: NaN and ±Inf in obs 'withnan' served as missing" \
	grep -q "obs field 'withnan': 3 of 40 values are NaN or ±Inf, served as missing" <<<"$out"
check "check cases: the gene holding NaN is named" \
	grep -q "1 gene with NaN or ±Inf values, served as missing: g2" <<<"$out"
finish
