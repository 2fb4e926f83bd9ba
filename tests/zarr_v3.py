"""tests/zarr_v3.py - a small Zarr v3 writer, from the v3 specification, for
the tests: Debian has no zarr-python 3, so stores as anndata >= 0.11 writes
them are made by converting a zarr-python 2 store, array by array.

    convert("blosc-lz4.zarr", "v3.zarr", codec="zstd", crc32c=True)

Every group becomes a zarr.json of node_type "group" with the same
attributes; every array a zarr.json of node_type "array" with the same
shape, chunks, values and fill value, encoded with:
  transpose (order reversed, 2-d and up) when transpose=True,
  bytes (little-endian), or vlen-utf8 for strings,
  one of blosc / zstd / gzip (codec=...), crc32c when crc32c=True,
  or all of that inside sharding_indexed (shard=True: shards of 2 chunks a
  side, index (bytes, crc32c) at the end or with index_start at the start;
  an inner chunk equal to the fill value is left out, as zarr-python 3 does).
Chunk keys are "c/0/1" (default encoding), or "0.1" with v2_keys=True.
consolidated=True also puts every node's metadata in the root's
consolidated_metadata. Structured (rec-array) arrays have no v3 data type
here and are left out.
"""
import json
import os
import struct

import numcodecs
import numpy as np
import zarr

_CRC = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def edit_json(path, **fields):
    with open(path) as fh:
        doc = json.load(fh)
    doc.update(fields)
    with open(path, "w") as fh:
        json.dump(doc, fh)


def data_type(dt):
    if dt.kind == "O":
        return "string"
    if dt.kind == "U":
        return {"name": "fixed_length_utf32", "configuration": {"length_bytes": dt.itemsize}}
    if dt.kind == "b":
        return "bool"
    return {"i": "int", "u": "uint", "f": "float"}[dt.kind] + str(8 * dt.itemsize)


def fill_json(dt, fill):
    if dt.kind in "OU":
        return fill if isinstance(fill, str) else ""
    if dt.kind == "b":
        return bool(fill)
    if fill is None:
        fill = 0
    if dt.kind == "f":
        f = float(fill)
        return "NaN" if f != f else "Infinity" if f == float("inf") else "-Infinity" if f == -float("inf") else f
    return int(fill)


def fill_value(dt, fill):
    if dt.kind in "OU":
        return fill if isinstance(fill, str) else ""
    return 0 if fill is None else fill


class Chain:
    """The codecs of one chunk, and how to encode a chunk with them."""

    def __init__(self, dt, ndim, codec, crc, transpose):
        self.dt = dt
        self.order = list(range(ndim))[::-1] if transpose and ndim > 1 else None
        self.meta = []
        if self.order:
            self.meta.append({"name": "transpose", "configuration": {"order": self.order}})
        if dt.kind == "O":
            self.meta.append({"name": "vlen-utf8", "configuration": {}})
        else:
            self.meta.append({"name": "bytes", "configuration": {"endian": "little"}})
        self.codec = None
        if codec == "blosc":
            self.codec = numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE)
            self.meta.append({"name": "blosc", "configuration": {
                "cname": "lz4", "clevel": 5, "shuffle": "shuffle",
                "typesize": dt.itemsize if dt.kind != "O" else 1, "blocksize": 0}})
        elif codec == "zstd":
            self.codec = numcodecs.Zstd(level=3)
            self.meta.append({"name": "zstd", "configuration": {"level": 3, "checksum": False}})
        elif codec == "gzip":
            self.codec = numcodecs.GZip(level=6)
            self.meta.append({"name": "gzip", "configuration": {"level": 6}})
        self.crc = crc
        if crc:
            self.meta.append({"name": "crc32c", "configuration": {}})

    def encode(self, chunk):
        if self.order:
            chunk = np.ascontiguousarray(np.transpose(chunk, self.order))
        if self.dt.kind == "O":
            raw = numcodecs.VLenUTF8().encode(chunk.reshape(-1))
        else:
            raw = chunk.astype(self.dt.newbyteorder("<")).tobytes()
        if self.codec:
            raw = bytes(self.codec.encode(raw))
        if self.crc:
            raw += struct.pack("<I", crc32c(raw))
        return raw


def chunk_at(data, coords, chunks, fill):
    """The chunk at coords, padded to full size with the fill value."""
    out = np.full(chunks, fill, dtype=data.dtype)
    sel = tuple(slice(c * n, min((c + 1) * n, s)) for c, n, s in zip(coords, chunks, data.shape))
    out[tuple(slice(0, x.stop - x.start) for x in sel)] = data[sel]
    return out


def grid(shape, chunks):
    return list(np.ndindex(*[-(-s // c) if c else 0 for s, c in zip(shape, chunks)])) if shape else [()]


def write_array(path, z, attrs, opts):
    data = z[...]
    dt = data.dtype
    fill = fill_value(dt, z.fill_value)
    chunks = list(z.chunks)
    shard = [2 * c for c in chunks] if opts.get("shard") else chunks
    v2_keys = opts.get("v2_keys")
    sep = "." if v2_keys else "/"
    inner = Chain(dt, data.ndim, opts.get("codec"), opts.get("crc32c") and not opts.get("shard"),
                  opts.get("transpose"))
    if opts.get("shard"):
        codecs = [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": chunks, "codecs": inner.meta,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                             {"name": "crc32c", "configuration": {}}],
            "index_location": "start" if opts.get("index_start") else "end"}}]
    else:
        codecs = inner.meta
    meta = {
        "zarr_format": 3, "node_type": "array", "shape": list(data.shape), "data_type": data_type(dt),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": shard}},
        "chunk_key_encoding": {"name": "v2" if v2_keys else "default", "configuration": {"separator": sep}},
        "fill_value": fill_json(dt, z.fill_value), "codecs": codecs, "attributes": attrs,
    }
    os.makedirs(path, exist_ok=True)
    for coords in grid(data.shape, shard):
        if opts.get("shard"):
            blob = shard_bytes(data, coords, chunks, shard, inner, fill, opts.get("index_start"))
        else:
            blob = inner.encode(chunk_at(data, coords, chunks, fill))
        key = sep.join(str(c) for c in coords) if v2_keys else sep.join(["c"] + [str(c) for c in coords])
        key = key or "0"
        os.makedirs(os.path.dirname(os.path.join(path, key)), exist_ok=True)
        with open(os.path.join(path, key), "wb") as fh:
            fh.write(blob)
    return meta


def shard_bytes(data, coords, chunks, shard, chain, fill, index_start):
    per = [s // c for s, c in zip(shard, chunks)]
    parts, index = [], []
    nidx = int(np.prod(per)) if per else 1
    offset = nidx * 16 + 4 if index_start else 0
    for local in (np.ndindex(*per) if per else [()]):
        g = [c * p + l for c, p, l in zip(coords, per, local)]
        inside = all(x * c < s for x, c, s in zip(g, chunks, data.shape))
        chunk = chunk_at(data, g, chunks, fill) if inside else None
        if chunk is None or (data.dtype.kind not in "OU" and np.all(chunk == fill)):
            index.append((2**64 - 1, 2**64 - 1))
            continue
        blob = chain.encode(chunk)
        index.append((offset, len(blob)))
        parts.append(blob)
        offset += len(blob)
    raw = b"".join(struct.pack("<QQ", o, n) for o, n in index)
    raw += struct.pack("<I", crc32c(raw))
    body = b"".join(parts)
    return raw + body if index_start else body + raw


def convert(src, dst, consolidated=False, **opts):
    root = zarr.open_group(src, mode="r")
    nodes = {}

    def walk(group, path):
        nodes[path] = {"zarr_format": 3, "node_type": "group", "attributes": dict(group.attrs)}
        for name, item in group.items():
            sub = path + "/" + name if path else name
            if isinstance(item, zarr.hierarchy.Group):
                walk(item, sub)
            elif not item.dtype.names:
                nodes[sub] = write_array(os.path.join(dst, sub), item, dict(item.attrs), opts)

    walk(root, "")
    if consolidated:
        nodes[""]["consolidated_metadata"] = {
            "kind": "inline", "must_understand": False,
            "metadata": {k: v for k, v in nodes.items() if k}}
    for path, meta in nodes.items():
        os.makedirs(os.path.join(dst, path), exist_ok=True)
        with open(os.path.join(dst, path, "zarr.json"), "w") as fh:
            json.dump(meta, fh, indent=2)
