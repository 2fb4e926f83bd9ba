#!/usr/bin/python3
"""Write .h5ad files whose X reaches outside the file, for tests/confine.sh,
and a plain one for tests/drop.sh.

usage: gen_outside.py OUTDIR SECRETDIR

OUTDIR/link.h5ad     X is an HDF5 external link to SECRETDIR/secret.h5:/X
OUTDIR/storage.h5ad  X is a dense dataset whose bytes are kept in
                     SECRETDIR/secret.raw (HDF5 external storage)
OUTDIR/vds.h5ad      X is a virtual dataset mapping SECRETDIR/secret.h5:/X
OUTDIR/column.h5ad   X in the file, but obs column "leak" (float32) kept in
                     SECRETDIR/secret.raw: an optional element, left out
OUTDIR/plain.h5ad    X in the file (ones)
The secret files (mode 0600) hold X's shape in float32 4242.0, a value the
real X never takes, so a gene file holding it was read from outside.
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_cases import enc, write_array, write_dataframe  # noqa: E402

N, G, SECRET = 120, 6, np.float32(4242.0)


def base(path, obs_columns=()):
    rng = np.random.default_rng(7)
    f = h5py.File(path, "w")
    enc(f, "anndata", "0.1.0")
    write_dataframe(f, "obs", [f"c{i}" for i in range(N)], list(obs_columns))
    write_dataframe(f, "var", [f"g{j}" for j in range(G)], [])
    obsm = f.create_group("obsm")
    enc(obsm, "dict", "0.1.0")
    write_array(obsm, "X_umap", rng.normal(size=(N, 2)).astype("f4"))
    return f


def main():
    out, secret = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    os.makedirs(secret, mode=0o700, exist_ok=True)
    values = np.full((N, G), SECRET, dtype="f4")
    with h5py.File(os.path.join(secret, "secret.h5"), "w") as s:
        s.create_dataset("X", data=values)
    with open(os.path.join(secret, "secret.raw"), "wb") as s:
        s.write(values.tobytes())
    for name in ("secret.h5", "secret.raw"):
        os.chmod(os.path.join(secret, name), 0o600)

    with base(os.path.join(out, "link.h5ad")) as f:
        f["X"] = h5py.ExternalLink(os.path.join(secret, "secret.h5"), "/X")
    with base(os.path.join(out, "storage.h5ad")) as f:
        raw = os.path.join(secret, "secret.raw")
        x = f.create_dataset("X", shape=(N, G), dtype="f4", external=[(raw, 0, values.nbytes)])
        enc(x, "array", "0.2.0")
    with base(os.path.join(out, "vds.h5ad")) as f:
        layout = h5py.VirtualLayout(shape=(N, G), dtype="f4")
        layout[:] = h5py.VirtualSource(os.path.join(secret, "secret.h5"), "X", shape=(N, G))
        enc(f.create_virtual_dataset("X", layout), "array", "0.2.0")
    def leak(g, key):
        c = g.create_dataset(key, shape=(N,), dtype="f4",
                             external=[(os.path.join(secret, "secret.raw"), 0, N * 4)])
        enc(c, "array", "0.2.0")
    with base(os.path.join(out, "column.h5ad"), [("leak", leak)]) as f:
        write_array(f, "X", np.ones((N, G), dtype="f4"))
    with base(os.path.join(out, "plain.h5ad")) as f:
        write_array(f, "X", np.ones((N, G), dtype="f4"))


main()
