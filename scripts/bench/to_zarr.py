"""scripts/bench/to_zarr.py - the bench dataset as a Zarr store, as
adata.write_zarr writes it with zarr-python's default compressor (Blosc,
lz4, level 5, byte shuffle): the most common Zarr AnnData there is.

    python3 scripts/bench/to_zarr.py bench-100k.h5ad bench-100k.zarr

Written to OUT.part and renamed, so OUT is always complete.
"""
import os
import shutil
import sys
import warnings

import anndata

warnings.simplefilter("ignore")
src, out = sys.argv[1:3]
shutil.rmtree(out + ".part", ignore_errors=True)
anndata.read_h5ad(src).write_zarr(out + ".part")
os.rename(out + ".part", out)
