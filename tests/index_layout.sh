#!/usr/bin/env bash
# tests/index_layout.sh - layout=index end to end: pbmc68k_reduced mounted
# with -o layout=index under two settings passes tests/strict_check.py with 0
# problems, decodes to the same arrays as the names layout (matched by key
# and manifest order), and the checker reports every rule broken in a copy
# (its --self-test). Then: generated sets at 65 536 cells (uint16 indices in
# layout=index, uint32 in the names layout) and 70 000 cells (uint32), a
# copy of pbmc with hostile content (a key with a leading space, an all-NaN
# field, ±Inf, repeated categories, uint8 and uint16 code widths mixed, an
# empty gene name, negative and NaN edge
# weights, a file name that is no valid id; and a vector field) that
# layout=index must still serve cleanly, alone and in a directory source;
# the option checks; and one persistent cache shared by both layouts.
#
#   $ bash tests/index_layout.sh
#   ok pbmc-index: metadata documents (§1)
#   ...
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
GEN=$ROOT/build/gen-h5ad
mount_test_setup "layout=index tests"

# strict MOUNT LABEL: the checker's lines, and a failure when it finds problems.
strict() {
	$PY tests/strict_check.py "$1" "$2" || failures=$((failures + 1))
}

# same_arrays NAMES INDEX LABEL: every payload of the names-layout mount
# decodes to the same data as its layout=index twin, matched by key (genes and
# edges in manifest order). The two follow different exporters
# (docs/export-rules.md): categorical codes, float32 values, edges and counts
# agree exactly; quantised codes within one step (float32 truncation against
# float64 floor), bounds exactly but for a constant field's max ([v, v + 1]
# against [v, v]); points and centroids within float32 rounding (float32
# against float64 normalisation). parity.sh checks layout=index exactly.
same_arrays() {
	$PY - "$@" <<'EOF' || failures=$((failures + 1))
import gzip, json, os, re, sys
import numpy as np

names, index, label = sys.argv[1:4]
failures = 0


def check(ok, what):
    global failures
    print(("ok " if ok else "FAIL ") + f"{label}: {what}")
    failures += 0 if ok else 1


def doc(root, rel):
    with open(os.path.join(root, rel)) as fh:
        return json.load(fh)


def array(root, rel, dtype):
    with open(os.path.join(root, rel), "rb") as fh:
        raw = fh.read()
    return np.frombuffer(gzip.decompress(raw) if rel.endswith(".gz") else raw,
                         dtype=np.dtype(dtype).newbyteorder("<"))


def safe(key):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "field"


def same(a, b, dtype):
    """Equal data under the two rules: codes within one step, floats exact."""
    if a.shape != b.shape:
        return False
    if dtype == "f4":
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    missing = np.iinfo(a.dtype).max
    step = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return bool(np.all(((a == missing) == (b == missing)) & (step <= 1)))


def bounds(old, new):
    """[min, max] of the names layout against layout=index's."""
    return len(old) == len(new) and (not old or (
        old[0] == new[0] and (old[1] == new[1] or (new[0] == new[1] and old[1] > old[0]))))


def near(a, b, tol=1e-6):
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=tol / 10)


DT = {"uint8": "u1", "uint16": "u2", "uint32": "u4", "float32": "f4"}
ni, ii = doc(names, "dataset_identity.json"), doc(index, "dataset_identity.json")
check(ni["stats"] == ii["stats"] or not ii["stats"]["has_connectivity"],
      "identity stats agree" + ("" if ni["stats"] == ii["stats"] else f" ({ni['stats']} / {ii['stats']})"))
check(sorted(map(json.dumps, ni["obs_fields"])) == sorted(map(json.dumps, ii["obs_fields"])),
      "identity lists the same obs fields")
n = ii["stats"]["n_cells"]
check(all(near(array(names, ni["embeddings"]["files"][k], "f4"), array(index, p, "f4"))
          for k, p in ii["embeddings"]["files"].items()), "points are the same (float32 rounding)")

nm, im = doc(names, "obs_manifest.json"), doc(index, "obs_manifest.json")
ns, is_ = nm["_obsSchemas"], im["_obsSchemas"]
by_key = {t[0]: t for t in nm["_continuousFields"] + nm["_categoricalFields"]}
diff = []
for t in im["_continuousFields"]:
    s, u = is_["continuous"], ns["continuous"]
    a = array(names, u["pathPattern"].replace("{key}", safe(t[1])), DT[u["dtype"]])
    b = array(index, s["pathPattern"].replace("{index}", str(t[0])), DT[s["dtype"]])
    if not same(a, b, DT[s["dtype"]]) or not bounds(by_key[t[1]][1:], t[2:]):
        diff.append(t[1])


def same_centroids(old, new):
    if sorted(old) != sorted(new):
        return False
    for d in new:
        if [(c["category"], c["n_points"]) for c in old[d]] != [(c["category"], c["n_points"]) for c in new[d]]:
            return False
        # float32 sums over thousands of cells drift by ~1e-6 from float64's
        if not all(near(p["position"], q["position"], 1e-4) for p, q in zip(old[d], new[d])):
            return False
    return True


for t in im["_categoricalFields"]:
    s, u, ext = is_["categorical"], ns["categorical"], "u8" if t[3] == "uint8" else "u16"
    old = by_key[t[1]]
    codes = (u["codesPathPattern"].replace("{key}", safe(t[1])).replace("{ext}", ext),
             s["codesPathPattern"].replace("{index}", str(t[0])).replace("{ext}", ext))
    outliers = (u["outlierPathPattern"].replace("{key}", safe(t[1])),
                s["outlierPathPattern"].replace("{index}", str(t[0])))
    dt = DT[s["outlierDtype"]]
    if (not np.array_equal(array(names, codes[0], DT[t[3]]), array(index, codes[1], DT[t[3]]))
            or not same(array(names, outliers[0], dt), array(index, outliers[1], dt), dt)
            or old[1:4] != t[2:5] or not same_centroids(old[4], t[5]) or not bounds(old[5:], t[6:])):
        diff.append(t[1])
check(not diff, f"{len(by_key)} obs fields decode the same and have the same tuples" +
      (f" (differ: {diff[:5]})" if diff else ""))

if ii["stats"]["n_genes"]:
    nv, iv = doc(names, "var_manifest.json"), doc(index, "var_manifest.json")
    u, s = nv["_varSchema"], iv["_varSchema"]
    diff = [t[1] for old, t in zip(nv["fields"], iv["fields"])
            if old[0] != t[1] or not bounds(old[1:], t[2:]) or
            not same(array(names, u["pathPattern"].replace("{key}", safe(old[0])), DT[u["dtype"]]),
                     array(index, s["pathPattern"].replace("{index}", str(t[0])), DT[s["dtype"]]),
                     DT[s["dtype"]])]
    check(len(nv["fields"]) == len(iv["fields"]) and not diff,
          f"{len(iv['fields'])} genes in the same order decode the same" + (f" (differ: {diff[:5]})" if diff else ""))

if ii["stats"]["has_connectivity"]:
    nc, ic = doc(names, "connectivity_manifest.json"), doc(index, "connectivity_manifest.json")
    pairs = [(array(names, nc[k], DT[nc["index_dtype"]]).astype(np.int64),
              array(index, ic[k], DT[ic["index_dtype"]]).astype(np.int64)) for k in ("sourcesPath", "destinationsPath")]
    w = array(index, ic["weightsPath"], "f8")
    check(all(np.array_equal(a, b) for a, b in pairs) and len(w) == ic["n_edges"] and
          ic["max_neighbors"] == nc["max_neighbors"],
          f"{ic['n_edges']} edges are the same, with weights ({nc['index_dtype']} / {ic['index_dtype']} indices)")
sys.exit(1 if failures else 0)
EOF
}

# mount_both SOURCE OPTIONS: layout=index on mnt_index (daemon INDEX_PID,
# log INDEX_LOG) and the names layout on mnt_names. The names mount keeps no
# persistent cache, so the two never meet in one (the shared cache has its
# own check at the end).
mount_both() {
	local src=$1 opts=$2
	mount_fs "$src" "$T/mnt_index" -o "layout=index${opts:+,$opts}" || return 1
	INDEX_PID=$MOUNT_PID INDEX_LOG=$MOUNT_LOG
	mount_fs "$src" "$T/mnt_names" -o "layout=names,cache_dir=none${opts:+,$opts}"
}

# unmount_both LABEL: both daemons must end with status 0 (under ASan: no
# leak, no error).
unmount_both() {
	local names_status index_status
	unmount_fs "$T/mnt_names"; names_status=$?
	mountpoint -q "$T/mnt_index" && fusermount3 -u "$T/mnt_index"
	MOUNT_PID=$INDEX_PID wait_daemon; index_status=$?
	check "$1: both daemons end with status 0 ($index_status, $names_status)" \
		test "$index_status$names_status" = 00
}

# index_and_names SOURCE LABEL OPTIONS: check the index layout strictly and
# against the names layout.
index_and_names() {
	if mount_both "$1" "$3"; then
		strict "$T/mnt_index" "$2"
		same_arrays "$T/mnt_names" "$T/mnt_index" "$2"
	else
		fail "$2: mount $1 in both layouts${3:+ with -o $3}"
	fi
}

# --- pbmc68k_reduced under the default and the plain 16-bit settings
index_and_names "$PBMC" pbmc-index ""
$PY tests/strict_check.py --self-test "$T/mnt_index" pbmc-index || failures=$((failures + 1))
check "pbmc-index: obs files are named by index, in column order" test -f "$T/mnt_index/obs/0.codes.u8.gz" -a \
	-f "$T/mnt_index/obs/1.values.u8.gz" -a \
	-f "$T/mnt_index/connectivity/edges.weights.f64.bin.gz"
unmount_both pbmc-index
index_and_names "$PBMC" pbmc-index-raw16 "compression=0,var_quantization=none,obs_quantization=16"
$PY tests/strict_check.py --self-test "$T/mnt_index" pbmc-index-raw16 || failures=$((failures + 1))
unmount_both pbmc-index-raw16

# --- generated sets on either side of the uint16 index limit
if [ -x "$GEN" ] || make -s -C "$ROOT" build/gen-h5ad >/dev/null; then
	for cells in 65536 70000; do
		"$GEN" --cells $cells --genes 200 --per-cell 20 "$T/gen$cells.h5ad" >/dev/null
		index_and_names "$T/gen$cells.h5ad" "gen$cells-index" ""
		want=$([ $cells -le 65536 ] && echo uint16 || echo uint32)
		check "gen$cells-index: $want edge indices" grep -q "\"index_dtype\":\"$want\"" \
			"$T/mnt_index/connectivity_manifest.json"
		unmount_both "gen$cells-index"
	done
else
	fail "build build/gen-h5ad"
fi

# --- hostile content that layout=index must leave out or repair
HOSTILE="$T/-hostile .h5ad"
$PY - "$PBMC" "$HOSTILE" <<'EOF'
import shutil, sys
import h5py, numpy as np

src, dst = sys.argv[1:3]
shutil.copyfile(src, dst)
with h5py.File(dst, "r+") as f:
    obs = f["obs"]
    n = obs["n_counts"].shape[0]
    order = [c.decode() if isinstance(c, bytes) else c for c in obs.attrs["column-order"]]
    obs.move("phase", " phase")                       # surrounding whitespace
    order[order.index("phase")] = " phase"
    obs["empty"] = np.full(n, np.nan, np.float32)     # no value in any cell
    inf = np.arange(n, dtype=np.float32)
    inf[:3] = [np.inf, -np.inf, np.nan]
    obs["with_inf"] = inf                             # ±Inf
    dup = obs.create_group("dupcat")                  # repeated categories
    dup.attrs.update({"encoding-type": "categorical", "encoding-version": "0.2.0", "ordered": False})
    dup["codes"] = (np.arange(n) % 3).astype(np.int8)
    dup["categories"] = np.array(["x", "x", "y"], dtype=h5py.string_dtype())
    wide = obs.create_group("wide")                   # 300 categories: uint16 codes
    wide.attrs.update(dup.attrs)
    wide["codes"] = (np.arange(n) % 300).astype(np.int16)
    wide["categories"] = np.array([f"c{k}" for k in range(300)], dtype=h5py.string_dtype())
    for key in ("empty", "with_inf"):
        obs[key].attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    obs.attrs["column-order"] = np.array(order + ["empty", "with_inf", "dupcat", "wide"],
                                         dtype=h5py.string_dtype())
    vel = f["obsm"].create_dataset("velocity_umap", data=np.ones(f["obsm/X_umap"].shape, np.float32))
    vel.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    names = f["var/index"][:]
    names[5] = b""                                    # an empty gene name
    f["var/index"][...] = names
    g = f["obsp/connectivities"]
    indptr, indices, data = g["indptr"][:], g["indices"][:], g["data"][:]

    def entry(r, c):
        return indptr[r] + int(np.nonzero(indices[indptr[r]:indptr[r + 1]] == c)[0][0])
    # both halves of two different edges: one negative, one NaN
    edges = [(0, int(indices[indptr[0]]))]
    edges.append(next((u, int(v)) for u in range(1, n) for v in indices[indptr[u]:indptr[u + 1]]
                      if {u, int(v)} != set(edges[0])))
    for (u, v), value in zip(edges, (-1.0, np.nan)):
        data[entry(u, v)] = data[entry(v, u)] = value
    g["data"][...] = data
EOF
if mount_both "$HOSTILE" obs_quantization=none; then
	strict "$T/mnt_index" hostile-index
	$PY tests/strict_check.py --self-test "$T/mnt_index" hostile-index || failures=$((failures + 1))
	keys=$($PY -c 'import json,sys; print(sorted(f["key"] for f in json.load(open(sys.argv[1]))["obs_fields"]))' \
		"$T/mnt_index/dataset_identity.json")
	check "hostile-index: ' phase', empty and dupcat left out, with_inf and wide kept ($keys)" \
		test "$keys" = "['G2M_score', 'S_score', 'bulk_labels', 'louvain', 'n_counts', 'n_genes', 'percent_mito', 'wide', 'with_inf']"
	check "hostile-index: no export_settings, as uint8 and uint16 codes mix" \
		bash -c "! grep -q export_settings '$T/mnt_index/dataset_identity.json'"
	check "hostile-index: the names layout still serves them" grep -q '"dupcat"' "$T/mnt_names/obs_manifest.json"
	genes=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["stats"]["n_genes"])' \
		"$T/mnt_index/dataset_identity.json")
	check "hostile-index: the empty gene is left out ($genes genes)" test "$genes" = 764
	edges=$($PY -c 'import json,sys; print(*(json.load(open(p))["n_edges"] for p in sys.argv[1:]))' \
		"$T/mnt_names/connectivity_manifest.json" "$T/mnt_index/connectivity_manifest.json")
	check "hostile-index: the edges of weight < 0 and NaN are left out (names / index: $edges)" \
		test "$edges" = "4996 4994"
	check "hostile-index: id and name made valid" grep -q '"id":"hostile","path":"/","name":"-hostile"' \
		"$T/mnt_index/_cellucid/datasets"
	check "hostile-index: the changes are logged" grep -q "left out of layout=index" "$INDEX_LOG"
	unmount_both hostile-index
else
	fail "mount the hostile copy of pbmc68k_reduced"
fi

# --- a directory source: its catalog, its handshake and each dataset
mkdir -p "$T/collection"
cp "$PBMC" "$HOSTILE" "$T/collection/"
if mount_fs "$T/collection" "$T/mnt_collection" -o layout=index,obs_quantization=none; then
	strict "$T/mnt_collection" collection-index
	check "collection-index: the hostile file's directory is its valid id" test -d "$T/mnt_collection/hostile"
	unmount_fs "$T/mnt_collection"
	check "collection-index: the daemon ends with status 0" test $? -eq 0
else
	fail "mount a directory of .h5ad files with -o layout=index"
fi

# --- options
mkdir -p "$T/mnt_x"
refused "layout=flat is refused naming the option" "layout" "$PBMC" "$T/mnt_x" -o layout=flat
refused "dataset_id=-x is refused before layout=index" "dataset_id '-x'" "$PBMC" "$T/mnt_x" \
	-o dataset_id=-x,layout=index
refused "dataset_id=x. is refused after layout=index" "dataset_id 'x.'" "$PBMC" "$T/mnt_x" \
	-o layout=index,dataset_id=x.
refused "a padded dataset_name is refused with layout=index" "dataset_name" "$PBMC" "$T/mnt_x" \
	-o "layout=index,dataset_name= padded"

# --- one persistent cache for both layouts: each must see its own files
for layout in names index names; do
	if mount_fs "$PBMC" "$T/mnt_$layout" -o layout=$layout,compression=1; then
		want=$([ $layout = index ] && echo '{index}' || echo '{key}')
		check "layout=$layout after the other layout on one persistent cache serves $want files" \
			grep -qF "$want" "$T/mnt_$layout/obs_manifest.json"
		unmount_fs "$T/mnt_$layout"
	else
		fail "mount with -o layout=$layout,compression=1"
	fi
done
finish
