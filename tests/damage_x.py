#!/usr/bin/python3
"""Copy an .h5ad and overwrite the stored bytes of X's first chunk with junk.

usage: damage_x.py IN.h5ad OUT.h5ad

Needs a chunked, filtered dense X (pbmc68k_reduced.h5ad has deflate chunks):
reading any column through that chunk then fails inside HDF5's filter.
"""
import shutil
import sys

import h5py

src, dst = sys.argv[1], sys.argv[2]
shutil.copyfile(src, dst)
with h5py.File(dst, "r") as f:
    info = f["X"].id.get_chunk_info(0)
with open(dst, "r+b") as fh:
    fh.seek(info.byte_offset)
    fh.write(b"\xff" * info.size)
