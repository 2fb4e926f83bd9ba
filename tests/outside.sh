#!/usr/bin/env bash
# tests/outside.sh - an .h5ad that reaches outside itself serves nothing from
# outside: HDF5 external storage (a column's categories kept in a plain file),
# an external link (a column that is a group of another file) and a virtual
# dataset (a column mapped from another file) are each refused before a byte
# is read. check names each refused element under "left out"; export writes
# none of the secret bytes; a refused required element (X) fails the open;
# a FIFO as the source is refused without blocking.
#
#   $ bash tests/outside.sh
#   ok check lists obs/louvain/categories as refused (stored in another file)
#   ...
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
if [ ! -f "$PBMC" ]; then skip "outside the file: $FIXTURES absent (../shared not beside the repo)"; exit 0; fi
if ! "$PY" -c 'import h5py' 2>/dev/null; then skip "outside the file: python3-h5py is not installed"; exit 0; fi

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME=$T/xdg HOME=$T/home
SECRET=$T/secret.txt OTHER=$T/other.h5

"$PY" - "$PBMC" "$T" <<'PY' || { fail "outside the file: the hostile files could not be written"; exit 1; }
import shutil, sys
import h5py, numpy as np
src, t = sys.argv[1], sys.argv[2]
secret, other = t + "/secret.txt", t + "/other.h5"
words = b"TOPSECRET" * 2000
open(secret, "wb").write(words)
with h5py.File(other, "w") as o:
    g = o.create_group("phase")
    g.attrs["encoding-type"] = "categorical"
    g.attrs["encoding-version"] = "0.2.0"
    g.attrs["ordered"] = False
    g["codes"] = np.zeros(700, dtype="i1")
    g["categories"] = np.array([b"TOPSECRET"], dtype="S9")
    o["n_genes"] = np.frombuffer(words[:700 * 4], dtype="<i4")
    o["pca"] = np.frombuffer(words[:700 * 2 * 8], dtype="<f8").reshape(700, 2)

def hostile(name):
    path = t + "/" + name
    shutil.copy(src, path)
    return h5py.File(path, "r+")

with hostile("hostile.h5ad") as f:
    del f["obs/louvain/categories"]
    f.create_dataset("obs/louvain/categories", shape=(11,), dtype="S9",
                     external=[(secret, 0, 99)])
    del f["obs/phase"]
    f["obs/phase"] = h5py.ExternalLink(other, "/phase")
    del f["obs/n_genes"]
    lay = h5py.VirtualLayout(shape=(700,), dtype="<i4")
    lay[:] = h5py.VirtualSource(other, "n_genes", shape=(700,))
    f.create_virtual_dataset("obs/n_genes", lay)
    lay = h5py.VirtualLayout(shape=(700, 2), dtype="<f8")
    lay[:] = h5py.VirtualSource(other, "pca", shape=(700, 2))
    f.create_virtual_dataset("obsm/X_secret", lay)
with hostile("required.h5ad") as f:
    shape, dtype = f["X"].shape, f["X"].dtype
    del f["X"]
    f.create_dataset("X", shape=shape, dtype=dtype,
                     external=[(secret, 0, h5py.h5f.UNLIMITED)])
PY

out=$("$BIN" check "$T/hostile.h5ad" 2>"$T/err"); status=$?
check "check of a file reaching outside itself: exit status 0" test "$status" = 0
has() { # has "what" FIXED-STRING: a line of check's output holds it
	if grep -qF -- "$2" <<<"$out"; then ok "check: $1"; else fail "check: $1: no line with '$2'"; fi
}
has "the external storage is refused, naming the file" \
	"obs/louvain/categories: stored in another file ($SECRET): refused"
has "the external link is refused, naming the file" \
	"obs/phase: a link to another file ($OTHER): refused"
has "the virtual dataset is refused, naming the file" \
	"obs/n_genes: a virtual dataset (mapped from $OTHER): refused"
has "the other columns are still there" "bulk_labels   categorical, 10 categories"
check "check: the virtual obsm array is no embedding and no latent space" \
	bash -c '! grep -E "^(embeddings|latent space) .*X_secret" <<<"$1"' _ "$out"
has "the virtual obsm array is left out, naming the file" \
	"obsm 'X_secret' left out: obsm/X_secret: a virtual dataset (mapped from $OTHER): refused"
check "check: not a secret byte in its output" bash -c '! grep -q TOPSECRET "$1" <<<"$2"' _ "$T/err" "$out"

"$BIN" export "$T/hostile.h5ad" "$T/out" >"$T/export.log" 2>&1
check "export of it succeeds" test "$?" = 0
check "export: not a secret byte in any file it wrote, compressed or not" bash -c '
	! grep -rqa TOPSECRET "$1" "$2" &&
	! find "$1" -name "*.gz" -exec zcat {} + | grep -qa TOPSECRET' _ "$T/out" "$T/export.log"
check "export: the refused column is not exported" \
	bash -c '! grep -rqa "\"louvain\"" "$1/obs_manifest.json"' _ "$T/out"

out=$("$BIN" check "$T/required.h5ad" 2>&1); status=$?
check "a required element kept in another file fails the open" test "$status" = 1
check "with one line naming it" grep -qF "X: stored in another file ($SECRET): refused" <<<"$out"
check "and no secret byte" bash -c '! grep -q TOPSECRET <<<"$1"' _ "$out"

# A FIFO as the source: an ordinary open would wait for a writer for ever.
mkfifo "$T/fifo.h5ad"
out=$(timeout 20 "$BIN" check "$T/fifo.h5ad" 2>&1); status=$?
check "a FIFO as the source is refused at once (status $status)" test "$status" = 1
check "with one line saying why" grep -qxF "cellucidfs: cannot open $T/fifo.h5ad: not a regular file" <<<"$out"
finish
