#!/usr/bin/env bash
# tests/vectors.sh - vector fields (export-format.md §2): a velocity-like obsm
# key next to X_umap is exposed as vectors/<field>_<d>d.bin.gz, scaled like
# the points in the names layout and raw in layout=index (the strict viewer
# scales them itself); X_-prefixed keys are never vector fields.
source "$(dirname "$0")/lib.sh"

mount_test_setup vectors

# pbmc68k_reduced plus obsm velocity_umap (explicit 2-D as velocity_umap_2d
# would be too) and X_velocity_umap, which must be ignored.
$PY - "$FIXTURES/pbmc68k_reduced.h5ad" "$T/vel.h5ad" <<'PYEOF'
import shutil, sys
import h5py, numpy as np
shutil.copyfile(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    v = np.random.default_rng(0).normal(size=f["obsm/X_umap"].shape).astype(np.float32)
    v[3] = np.nan
    for key in ("velocity_umap", "X_velocity_umap"):
        d = f["obsm"].create_dataset(key, data=v)
        d.attrs["encoding-type"], d.attrs["encoding-version"] = "array", "0.2.0"
PYEOF

expect() { # expect LAYOUT_OPTION SCALED
	$PY - "$T/mnt" "$T/vel.h5ad" "$2" <<'PYEOF'
import gzip, json, os, sys
import h5py, numpy as np
mnt, src, scaled = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
ident = json.load(open(os.path.join(mnt, "dataset_identity.json")))
vf = ident["vector_fields"]
assert vf["default_field"] == "velocity_umap" and list(vf["fields"]) == ["velocity_umap"], vf
field = vf["fields"]["velocity_umap"]
assert field["available_dimensions"] == [2] and field["default_dimension"] == 2, field
assert field["basis"] == "umap", field
path = field["files"]["2d"]
got = np.frombuffer(gzip.decompress(open(os.path.join(mnt, path), "rb").read()), "<f4").reshape(-1, 2)
raw = h5py.File(src)["obsm/velocity_umap"][:].astype(np.float64)
umap = h5py.File(src)["obsm/X_umap"][:].astype(np.float32)
scale = np.float32(2) / (umap.max(0) - umap.min(0)).max() if scaled else 1.0
want = (raw * scale).astype(np.float32)
want[~np.isfinite(want)] = 0
assert np.allclose(got, want, rtol=1e-5, atol=1e-7), (got[:3], want[:3])
print(path, field["label"])
PYEOF
}

mount_fs "$T/vel.h5ad" "$T/mnt" -o layout=names && out=$(expect names 1)
check "names layout: vectors/velocity_umap_2d.bin.gz, scaled like the points" \
	grep -q "^vectors/velocity_umap_2d.bin.gz Velocity (UMAP)$" <<<"$out"
check "non-finite vectors are written as 0, with a warning" grep -q "non-finite values written as 0" "$MOUNT_LOG"
unmount_fs "$T/mnt"
if mount_fs "$T/vel.h5ad" "$T/mnt" -o layout=index 2>/dev/null; then
	out=$(expect index 1)
	check "layout=index: vectors/0_2d.bin.gz, label = id, scaled" \
		grep -q "^vectors/0_2d.bin.gz velocity_umap$" <<<"$out"
	unmount_fs "$T/mnt"
else
	fail "mount with -o layout=index"
fi
finish
