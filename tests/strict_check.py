#!/usr/bin/python3
"""Check an export tree against every rule of viewer-contract-strict.md, the
data-loading contract of the newest Cellucid viewer (what layout=index is for).

usage: strict_check.py MOUNT [LABEL]
       strict_check.py --self-test MOUNT [LABEL]

MOUNT is a dataset directory, or a collection root (datasets.json,
_cellucid/ and one directory per dataset), whose datasets are then each
checked as "LABEL/<dir>".

Prints one "ok LABEL: <group>" or "FAIL LABEL: <group>" line per rule group,
each problem found under a failed group, and finally "strict: N problems";
exits 1 when there is any problem. The groups follow the contract's sections:
the metadata documents (§1: size, strict JSON), the identity (§2), the obs
manifest (§3), the var manifest (§4), embeddings (§5), connectivity and edge
content (§6), vector fields (§7), cross-file consistency and the folder
picker's agreement rules (§8, §13), catalogs when present (§9), the
handshake files (§10), payload envelopes and values (§1, §3.5, §14), limits
(§15), the path rules (§1), and a tree check of our own: no file that no
metadata names.

Where the viewer reads a value through a typed array, the check does too:
JSON numbers are integers when integral (JavaScript has one number type) and
decoded outlier quantiles are compared as float32 (Float32Array storage).
Rules a tree cannot show (HTTP headers, redirects, CORS) are out of scope.

--self-test copies MOUNT to a temporary directory, breaks one rule at a time
(an extra JSON key, a wrong length, a bad gzip trailer, an edge with
src >= dst, ...) and asserts that the check reports each one, after first
asserting that the pristine copy passes; it prints one ok/FAIL/skip line per
broken copy.
"""
import contextlib
import gzip
import io
import json
import math
import os
import re
import shutil
import struct
import sys
import tempfile
import zlib

import numpy as np

MIB = 1 << 20
JSON_LIMIT = 64 * MIB
PAYLOAD_LIMIT = 512 * MIB
SAFE_INT = 2**53 - 1
METADATA = ("dataset_identity.json", "obs_manifest.json", "var_manifest.json",
            "connectivity_manifest.json")
HANDSHAKE = ("_cellucid/health", "_cellucid/info", "_cellucid/datasets")
# What JavaScript's String.prototype.trim() removes.
JS_SPACE = set("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | {
    chr(c) for c in range(0x2000, 0x200B)}
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
QUANT = {8: ("uint8", "u8"), 16: ("uint16", "u16")}


# ------------------------------------------------------------ value rules

def js_trim(s):
    i, j = 0, len(s)
    while i < j and s[i] in JS_SPACE:
        i += 1
    while j > i and s[j - 1] in JS_SPACE:
        j -= 1
    return s[i:j]


def has_control(s):
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in s)


def is_int(v):
    """A JSON number JavaScript sees as a safe integer."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        return False
    return abs(v) <= SAFE_INT


def is_num(v):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def nonempty_str(v):
    return isinstance(v, str) and js_trim(v) != ""


def exact_str(v):
    """Exact text: non-empty, no surrounding whitespace, no control characters."""
    return isinstance(v, str) and v != "" and js_trim(v) == v and not has_control(v)


def compression_ok(v):
    return v is None or (is_int(v) and 1 <= v <= 9)


def bits_or_null(v):
    return v is None or (is_int(v) and v in (8, 16))


def relative_path_problem(p):
    """requireRelativePayloadPath: None, or what is wrong."""
    if not isinstance(p, str) or p == "":
        return "not a non-empty string"
    if p.startswith("/"):
        return "starts with /"
    for c in "\\%?#":
        if c in p:
            return f"contains {c!r}"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", p):
        return "has a URL scheme or drive prefix"
    if any(seg in ("", ".", "..") for seg in p.split("/")):
        return "has an empty, . or .. segment"
    return None


def identity_path_problem(p):
    """requireIdentityPayloadPath: the relative rule, no control characters or
    surrounding whitespace, and segments that encodeURIComponent(decode(seg))
    gives back unchanged; as % is refused, that leaves the characters
    encodeURIComponent keeps."""
    why = relative_path_problem(p)
    if why:
        return why
    if has_control(p) or js_trim(p) != p:
        return "has control characters or surrounding whitespace"
    if not re.fullmatch(r"[A-Za-z0-9\-_.!~*'()/]+", p):
        return "has a segment that is not canonical percent-encoding"
    return None


def category_key(v):
    """Categories are unique as JSON values: "1" and 1 differ, true and 1 too."""
    return (type(v).__name__ if not isinstance(v, (int, float)) or isinstance(v, bool) else "number", v)


def real_date(s):
    """YYYY-MM-DDTHH:MM:SSZ that prints back the same through Date."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z", s)
    if not m:
        return False
    y, mo, d, h, mi, sec = map(int, m.groups())
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return 1 <= mo <= 12 and 1 <= d <= days[mo - 1] and h < 24 and mi < 60 and sec < 60


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


# ---------------------------------------------------------------- checker

class Strict:
    def __init__(self, root):
        self.root = root
        self.docs = {}          # rel -> parsed document (None when unusable)
        self.refs = {}          # payload path -> what names it
        self.problems = None    # the current group's list
        self.total = 0
        self.n_cells = None

    # ---- plumbing

    def bad(self, text):
        self.problems.append(text)

    def check(self, cond, text):
        if not cond:
            self.bad(text)
        return cond

    def closed(self, where, obj, required, optional=()):
        """A closed object: exactly the required keys plus any optional ones."""
        if not isinstance(obj, dict):
            self.bad(f"{where}: not an object")
            return False
        for k in obj:
            if k not in required and k not in optional:
                self.bad(f"{where}: unexpected key {k!r}")
        for k in required:
            if k not in obj:
                self.bad(f"{where}: missing key {k!r}")
        return all(k in obj for k in required)

    def exists(self, rel):
        return os.path.isfile(os.path.join(self.root, rel))

    def load_json(self, rel):
        path = os.path.join(self.root, rel)
        try:
            with open(path, "rb") as fh:
                raw = fh.read(JSON_LIMIT + 1)
        except OSError as e:
            self.bad(f"{rel}: {e.strerror}")
            return None
        if len(raw) > JSON_LIMIT:
            self.bad(f"{rel}: larger than the 64 MiB metadata limit")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.bad(f"{rel}: not UTF-8 ({e.reason} at byte {e.start})")
            return None
        try:
            return json.loads(text, parse_constant=reject_constant)
        except ValueError as e:
            self.bad(f"{rel}: not valid JSON: {e}")
            return None

    def ref(self, rel, what):
        """A payload path named by metadata: safe, used once, not reserved."""
        why = relative_path_problem(rel)
        if why:
            self.bad(f"{what}: path {rel!r} {why}")
            return False
        if rel in METADATA:
            self.bad(f"{what}: path {rel!r} is a reserved metadata name")
        elif rel in self.refs:
            self.bad(f"{what}: path {rel!r} is also used by {self.refs[rel]}")
        self.refs.setdefault(rel, what)
        return True

    def gunzip(self, rel, raw, nbytes):
        if len(raw) < 18:
            self.bad(f"{rel}: {len(raw)} bytes, shorter than a gzip member (18)")
            return None
        if raw[:3] != b"\x1f\x8b\x08":
            self.bad(f"{rel}: no gzip deflate header (1f 8b 08)")
            return None
        if raw[3] & 0xE0:
            self.bad(f"{rel}: gzip flag bits 5-7 are set")
            return None
        isize = struct.unpack("<I", raw[-4:])[0]
        if isize != nbytes & 0xFFFFFFFF:
            self.bad(f"{rel}: gzip ISIZE {isize}, expected {nbytes}")
            return None
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = d.decompress(raw, nbytes + 1)
        except zlib.error as e:
            self.bad(f"{rel}: does not inflate: {e}")
            return None
        if d.eof and d.unused_data:
            self.bad(f"{rel}: bytes after the first gzip member (write one member per file)")
            return None
        if len(data) != nbytes or not d.eof:
            self.bad(f"{rel}: inflates to {'more than ' if len(data) > nbytes else ''}"
                     f"{len(data)} bytes, expected {nbytes}")
            return None
        return data

    def payload(self, rel, count, dtype):
        """count elements of dtype from rel (decoded), or None with the problem noted."""
        dt = np.dtype(dtype).newbyteorder("<")
        nbytes = count * dt.itemsize
        if nbytes > PAYLOAD_LIMIT:
            self.bad(f"{rel}: {nbytes} bytes decoded, over the 512 MiB payload limit")
            return None
        try:
            with open(os.path.join(self.root, rel), "rb") as fh:
                raw = fh.read()
        except OSError as e:
            self.bad(f"{rel}: {e.strerror}")
            return None
        if rel.endswith(".gz"):
            data = self.gunzip(rel, raw, nbytes)
        elif len(raw) != nbytes:
            self.bad(f"{rel}: {len(raw)} bytes, expected exactly {nbytes}")
            data = None
        else:
            data = raw
        return None if data is None else np.frombuffer(data, dtype=dt)

    # ---- §1: the metadata documents

    def g_documents(self):
        self.docs["dataset_identity.json"] = self.load_json("dataset_identity.json")
        ident = self.docs["dataset_identity.json"]
        stats = ident.get("stats") if isinstance(ident, dict) else None
        stats = stats if isinstance(stats, dict) else {}
        self.docs["obs_manifest.json"] = self.load_json("obs_manifest.json")
        for rel, needed in (("var_manifest.json", is_int(stats.get("n_genes")) and stats["n_genes"] > 0),
                            ("connectivity_manifest.json", stats.get("has_connectivity") is True)):
            if needed:
                self.docs[rel] = self.load_json(rel)
            else:
                # The folder picker: present exactly when needed (a var manifest
                # may be present if its count still matches, checked in §8).
                self.docs[rel] = self.load_json(rel) if self.exists(rel) else None
                if rel == "connectivity_manifest.json" and self.exists(rel):
                    self.bad(f"{rel}: present while has_connectivity is not true")
        for rel in METADATA:
            doc = self.docs.get(rel)
            if doc is not None and not isinstance(doc, dict):
                self.bad(f"{rel}: not a JSON object")
                self.docs[rel] = None

    # ---- §2: dataset_identity.json

    def g_identity(self):
        d = self.docs["dataset_identity.json"]
        if not self.check(d is not None, "dataset_identity.json: missing or unusable"):
            return
        w = "dataset_identity.json"
        self.closed(w, d, ("version", "id", "name", "description", "cellucid_data_version",
                           "stats", "embeddings", "obs_fields"),
                    ("created_at", "export_settings", "source", "vector_fields"))
        self.check(is_int(d.get("version")) and d.get("version") == 2, f"{w}: version is not 2")
        i = d.get("id")
        if self.check(isinstance(i, str) and exact_str(i),
                      f"{w}: id must be non-empty text without surrounding whitespace "
                      f"or control characters"):
            self.check(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", i) and not i.endswith("."),
                       f"{w}: id {i!r} fails the local folder picker's rule (§13)")
        self.check(nonempty_str(d.get("name")), f"{w}: name is empty")
        self.check(isinstance(d.get("description"), str), f"{w}: description is not a string")
        self.check(nonempty_str(d.get("cellucid_data_version")),
                   f"{w}: cellucid_data_version is empty")
        if "created_at" in d:
            self.check(isinstance(d["created_at"], str) and real_date(d["created_at"]),
                       f"{w}: created_at {d['created_at']!r} is not a YYYY-MM-DDTHH:MM:SSZ date")

        s = d.get("stats")
        keys = ("n_cells", "n_genes", "n_obs_fields", "n_categorical_fields",
                "n_continuous_fields", "has_connectivity", "n_edges")
        if self.closed(f"{w}: stats", s, keys):
            for k in keys[:5]:
                self.check(is_int(s[k]) and s[k] >= 0, f"{w}: stats.{k} is not a non-negative integer")
            self.check(is_int(s["n_cells"]) and s["n_cells"] >= 1, f"{w}: stats.n_cells is below 1")
            self.check(isinstance(s["has_connectivity"], bool), f"{w}: stats.has_connectivity is not a boolean")
            if s["has_connectivity"] is True:
                self.check(is_int(s["n_edges"]) and s["n_edges"] >= 0,
                           f"{w}: stats.n_edges is not a non-negative integer")
            else:
                self.check(s["n_edges"] is None, f"{w}: stats.n_edges is not null without connectivity")
            self.check(s["n_obs_fields"] == s["n_categorical_fields"] + s["n_continuous_fields"]
                       if all(is_int(s[k]) for k in keys[2:5]) else False,
                       f"{w}: stats.n_obs_fields is not categorical + continuous")
            if is_int(s["n_cells"]) and s["n_cells"] >= 1:
                self.n_cells = int(s["n_cells"])
        else:
            s = {}

        e = d.get("embeddings")
        if self.closed(f"{w}: embeddings", e, ("available_dimensions", "default_dimension", "files")):
            dims = e["available_dimensions"]
            ok = (isinstance(dims, list) and dims and all(is_int(x) and x in (1, 2, 3) for x in dims)
                  and all(a < b for a, b in zip(dims, dims[1:])))
            if self.check(ok, f"{w}: embeddings.available_dimensions is not a strictly "
                              f"increasing non-empty list from 1, 2, 3"):
                self.check(e["default_dimension"] in dims and is_int(e["default_dimension"]),
                           f"{w}: embeddings.default_dimension is not an available dimension")
                files = e["files"]
                if self.closed(f"{w}: embeddings.files", files, tuple(f"{int(x)}d" for x in dims)):
                    for k, p in files.items():
                        why = identity_path_problem(p)
                        self.check(not why, f"{w}: embeddings.files.{k} {p!r} {why}")

        of = d.get("obs_fields")
        if self.check(isinstance(of, list), f"{w}: obs_fields is not a list"):
            self.check(len(of) == s.get("n_obs_fields"), f"{w}: obs_fields has {len(of)} items, "
                       f"stats.n_obs_fields is {s.get('n_obs_fields')}")
            seen, kinds = set(), {"category": 0, "continuous": 0}
            for k, item in enumerate(of):
                kind = item.get("kind") if isinstance(item, dict) else None
                if not self.check(kind in kinds, f"{w}: obs_fields[{k}].kind is {kind!r}"):
                    continue
                kinds[kind] += 1
                if kind == "category":
                    self.closed(f"{w}: obs_fields[{k}]", item, ("key", "kind", "n_categories"))
                    self.check(is_int(item.get("n_categories")) and item["n_categories"] >= 0,
                               f"{w}: obs_fields[{k}].n_categories is not a non-negative integer")
                else:
                    self.closed(f"{w}: obs_fields[{k}]", item, ("key", "kind"))
                key = item.get("key")
                self.check(nonempty_str(key), f"{w}: obs_fields[{k}].key is empty")
                self.check(key not in seen, f"{w}: obs_fields key {key!r} is repeated")
                seen.add(key if isinstance(key, str) else repr(key))
            self.check(kinds["category"] == s.get("n_categorical_fields")
                       and kinds["continuous"] == s.get("n_continuous_fields"),
                       f"{w}: obs_fields kinds do not match the stats counts")

        if "export_settings" in d:
            x = d["export_settings"]
            if self.closed(f"{w}: export_settings", x, ("compression", "var_quantization",
                                                        "obs_continuous_quantization",
                                                        "obs_categorical_dtype")):
                self.check(compression_ok(x["compression"]), f"{w}: export_settings.compression")
                self.check(bits_or_null(x["var_quantization"]), f"{w}: export_settings.var_quantization")
                self.check(bits_or_null(x["obs_continuous_quantization"]),
                           f"{w}: export_settings.obs_continuous_quantization")
                self.check(x["obs_categorical_dtype"] in ("uint8", "uint16"),
                           f"{w}: export_settings.obs_categorical_dtype is "
                           f"{x['obs_categorical_dtype']!r}, not uint8 or uint16")
        if "source" in d:
            src = d["source"]
            if self.closed(f"{w}: source", src, ("name",), ("url", "citation", "filename")):
                for k, v in src.items():
                    self.check(nonempty_str(v), f"{w}: source.{k} is not a non-empty string")

    # ---- §3: obs_manifest.json

    def value_schema(self, where, s, tail, extra=()):
        """The continuous schema shared by obs and var: the ext the path uses, or None."""
        if not isinstance(s, dict):
            self.bad(f"{where}: not an object")
            return None
        q = s.get("quantized")
        if not self.check(isinstance(q, bool), f"{where}: quantized is not a boolean"):
            return None
        self.closed(where, s, extra + ("pathPattern", "ext", "dtype", "quantized")
                    + (("quantizationBits",) if q else ()))
        if q:
            bits = s.get("quantizationBits")
            want = QUANT.get(bits) if is_int(bits) else None
            self.check(want is not None and (s.get("dtype"), s.get("ext")) == want,
                       f"{where}: quantizationBits/dtype/ext {bits}/{s.get('dtype')}/{s.get('ext')}")
        else:
            self.check((s.get("dtype"), s.get("ext")) == ("float32", "f32"),
                       f"{where}: unquantized but dtype/ext {s.get('dtype')}/{s.get('ext')}")
        self.pattern(where, s.get("pathPattern"), ("{index}",), f"{{index}}.{tail}.{s.get('ext')}")
        return s.get("ext")

    def pattern(self, where, p, holders, tail):
        if not self.check(isinstance(p, str), f"{where}: path pattern is not a string"):
            return
        rest = p
        for h in holders:
            self.check(p.count(h) == 1, f"{where}: {p!r} must hold {h} exactly once")
            rest = rest.replace(h, "")
        self.check("{" not in rest and "}" not in rest,
                   f"{where}: {p!r} has placeholders other than {', '.join(holders)}")
        gz = ".gz" if self.compression else ""
        self.check(p.endswith(tail + gz), f"{where}: {p!r} does not end in {tail + gz!r}")
        why = relative_path_problem(p.replace("{index}", "0").replace("{ext}", "u8"))
        self.check(not why, f"{where}: {p!r} {why}")

    def g_obs_manifest(self):
        m = self.docs["obs_manifest.json"]
        self.obs_fields = []   # expanded: (index, key, kind, n_categories, tuple)
        if not self.check(m is not None, "obs_manifest.json: missing or unusable"):
            return
        w = "obs_manifest.json"
        self.closed(w, m, ("_format", "n_points", "centroid_outlier_quantile", "latent_key",
                           "compression", "_obsSchemas", "_continuousFields", "_categoricalFields"))
        self.check(m.get("_format") == "compact_v1", f"{w}: _format is not compact_v1")
        n = m.get("n_points")
        self.check(is_int(n) and n >= 1, f"{w}: n_points is not a positive integer")
        self.compression = m.get("compression")
        self.check(compression_ok(self.compression), f"{w}: compression is not null or 1-9")
        q = m.get("centroid_outlier_quantile")
        self.check(q is None or (is_num(q) and 0 < q < 1), f"{w}: centroid_outlier_quantile")
        self.check(m.get("latent_key") is None or nonempty_str(m.get("latent_key")), f"{w}: latent_key")
        cont, cat = m.get("_continuousFields"), m.get("_categoricalFields")
        if not (self.check(isinstance(cont, list), f"{w}: _continuousFields is not a list")
                & self.check(isinstance(cat, list), f"{w}: _categoricalFields is not a list")):
            return
        schemas = m.get("_obsSchemas")
        want = tuple(k for k, lst in (("continuous", cont), ("categorical", cat)) if lst)
        if not self.closed(f"{w}: _obsSchemas", schemas, want):
            return
        self.obs_schema = schemas
        if cont:
            self.value_schema(f"{w}: _obsSchemas.continuous", schemas["continuous"], "values")
            quantized = schemas["continuous"].get("quantized") is True
            for k, t in enumerate(cont):
                where = f"{w}: _continuousFields[{k}]"
                if not self.check(isinstance(t, list) and len(t) == (4 if quantized else 2),
                                  f"{where}: length {len(t) if isinstance(t, list) else '-'}, "
                                  f"expected {4 if quantized else 2}"):
                    continue
                if quantized:
                    self.check(is_num(t[2]) and is_num(t[3]) and t[2] <= t[3],
                               f"{where}: min/max not finite with min <= max")
                self.obs_fields.append((t[0], t[1], "continuous", None, t))
        if cat:
            s = schemas["categorical"]
            self.closed(f"{w}: _obsSchemas.categorical", s, ("codesPathPattern", "outlierPathPattern",
                                                             "outlierExt", "outlierDtype", "outlierQuantized"))
            self.pattern(f"{w}: codesPathPattern", s.get("codesPathPattern"), ("{index}", "{ext}"),
                         "{index}.codes.{ext}")
            oq = s.get("outlierQuantized")
            if s.get("outlierDtype") is None and s.get("outlierExt") is None and \
                    s.get("outlierPathPattern") is None:
                self.bad(f"{w}: no outlier files (the null outlier state is for in-browser AnnData)")
            elif self.check(isinstance(oq, bool), f"{w}: outlierQuantized is not a boolean"):
                pairs = set(QUANT.values()) if oq else {("float32", "f32")}
                self.check((s.get("outlierDtype"), s.get("outlierExt")) in pairs,
                           f"{w}: outlierDtype/outlierExt {s.get('outlierDtype')}/{s.get('outlierExt')}")
                self.pattern(f"{w}: outlierPathPattern", s.get("outlierPathPattern"), ("{index}",),
                             f"{{index}}.outliers.{s.get('outlierExt')}")
            for k, t in enumerate(cat):
                where = f"{w}: _categoricalFields[{k}]"
                if not self.check(isinstance(t, list) and len(t) == (8 if oq else 6),
                                  f"{where}: length {len(t) if isinstance(t, list) else '-'}, "
                                  f"expected {8 if oq else 6}"):
                    continue
                self.categorical_tuple(where, t, n)
                self.obs_fields.append((t[0], t[1], "category",
                                        len(t[2]) if isinstance(t[2], list) else None, t))
        indices = [f[0] for f in self.obs_fields]
        self.check(all(is_int(i) for i in indices) and sorted(indices) == list(range(len(indices))),
                   f"{w}: payload indices are not 0..{len(indices) - 1} each once")
        keys = [f[1] for f in self.obs_fields]
        for key in keys:
            self.check(isinstance(key, str) and key != "" and js_trim(key) == key,
                       f"{w}: field name {key!r} is empty or has surrounding whitespace")
        self.check(len(set(map(repr, keys))) == len(keys), f"{w}: field names repeat")

    def categorical_tuple(self, where, t, n_points):
        cats, dtype, missing, by_dim = t[2], t[3], t[4], t[5]
        if self.check(isinstance(cats, list), f"{where}: categories is not a list"):
            self.check(all(isinstance(c, str) or isinstance(c, bool) or is_num(c) for c in cats),
                       f"{where}: categories must be strings, finite numbers or booleans")
            self.check(len({category_key(c) for c in cats}) == len(cats), f"{where}: categories repeat")
        if self.check(dtype in ("uint8", "uint16"), f"{where}: codesDtype {dtype!r}"):
            self.check(missing == (255 if dtype == "uint8" else 65535) and is_int(missing),
                       f"{where}: codesMissingValue {missing!r} for {dtype}")
            if isinstance(cats, list):
                limit = 255 if dtype == "uint8" else 65535
                self.check(len(cats) <= limit, f"{where}: {len(cats)} categories, at most {limit} "
                           f"with {dtype} codes")
        if self.check(isinstance(by_dim, dict), f"{where}: centroidsByDim is not an object"):
            declared = {category_key(c) for c in cats} if isinstance(cats, list) else set()
            for dim, entries in by_dim.items():
                if not self.check(dim in ("1", "2", "3"), f"{where}: centroid dimension {dim!r}"):
                    continue
                if not self.check(isinstance(entries, list), f"{where}: centroids[{dim}] is not a list"):
                    continue
                seen = set()
                for c in entries:
                    if not self.closed(f"{where}: centroid", c, ("category", "position", "n_points")):
                        continue
                    key = category_key(c["category"])
                    self.check(key in declared, f"{where}: centroid of unknown category {c['category']!r}")
                    self.check(key not in seen, f"{where}: two {dim}d centroids of {c['category']!r}")
                    seen.add(key)
                    pos = c["position"]
                    self.check(isinstance(pos, list) and len(pos) == int(dim) and all(map(is_num, pos)),
                               f"{where}: centroid position is not {dim} finite numbers")
                    self.check(is_int(c["n_points"]) and 0 <= c["n_points"] <= (n_points or 0),
                               f"{where}: centroid n_points {c['n_points']!r}")
        if len(t) == 8:
            self.check(is_num(t[6]) and is_num(t[7]) and t[6] <= t[7],
                       f"{where}: outlier min/max not finite with min <= max")

    # ---- §4: var_manifest.json

    def g_var_manifest(self):
        m = self.docs.get("var_manifest.json")
        self.genes = []
        if m is None:
            return
        w = "var_manifest.json"
        self.closed(w, m, ("_format", "n_points", "var_gene_id_column", "compression",
                           "quantization", "_varSchema", "fields"))
        self.check(m.get("_format") == "compact_v1", f"{w}: _format is not compact_v1")
        self.check(is_int(m.get("n_points")) and m["n_points"] >= 1, f"{w}: n_points is not a positive integer")
        self.check(m.get("var_gene_id_column") is None or nonempty_str(m.get("var_gene_id_column")),
                   f"{w}: var_gene_id_column")
        self.check(compression_ok(m.get("compression")), f"{w}: compression is not null or 1-9")
        s = m.get("_varSchema")
        saved, self.compression = self.compression, m.get("compression")
        self.value_schema(f"{w}: _varSchema", s, "values", ("kind",))
        self.compression = saved
        if not isinstance(s, dict):
            return
        self.check(s.get("kind") == "continuous", f"{w}: _varSchema.kind is not continuous")
        quantized = s.get("quantized") is True
        self.check(m.get("quantization") == (s.get("quantizationBits") if quantized else None)
                   and (m.get("quantization") is None or is_int(m.get("quantization"))),
                   f"{w}: quantization {m.get('quantization')!r} does not match the schema")
        fields = m.get("fields")
        if not self.check(isinstance(fields, list), f"{w}: fields is not a list"):
            return
        for k, t in enumerate(fields):
            if not self.check(isinstance(t, list) and len(t) == (4 if quantized else 2),
                              f"{w}: fields[{k}]: length {len(t) if isinstance(t, list) else '-'}, "
                              f"expected {4 if quantized else 2}"):
                continue
            if quantized:
                self.check(is_num(t[2]) and is_num(t[3]) and t[2] <= t[3],
                           f"{w}: fields[{k}]: min/max not finite with min <= max")
            self.check(isinstance(t[1], str) and t[1] != "", f"{w}: fields[{k}]: empty gene name")
            self.genes.append(t)
        indices = [t[0] for t in self.genes]
        self.check(all(is_int(i) for i in indices) and sorted(indices) == list(range(len(indices))),
                   f"{w}: gene indices are not 0..{len(indices) - 1} each once")
        names = [repr(t[1]) for t in self.genes]
        self.check(len(set(names)) == len(names), f"{w}: gene names repeat")

    # ---- §5: embeddings

    def g_embeddings(self):
        d = self.docs["dataset_identity.json"]
        files = d["embeddings"]["files"]
        n = self.n_cells
        dims = [int(k[0]) for k in files]
        for dim in sorted(dims):
            rel = files[f"{dim}d"]
            self.ref(rel, f"embedding {dim}d")
            # raw float32 plus a copy padded to 3d
            work = 12 * n if dim == 3 else (4 * dim + 12) * n
            self.check(work <= PAYLOAD_LIMIT, f"{rel}: {dim}d working set of {work} bytes over 512 MiB")
            pts = self.payload(rel, n * dim, "f4")
            if pts is not None:
                bad = int((~np.isfinite(pts)).sum())
                self.check(bad == 0, f"{rel}: {bad} coordinates are not finite")

    # ---- §6: connectivity

    def g_connectivity(self):
        ident = self.docs["dataset_identity.json"]
        if ident["stats"].get("has_connectivity") is not True:
            return
        m = self.docs.get("connectivity_manifest.json")
        if not self.check(m is not None, "connectivity_manifest.json: missing while has_connectivity is true"):
            return
        w = "connectivity_manifest.json"
        self.closed(w, m, ("format", "n_cells", "n_edges", "max_neighbors", "index_bytes", "index_dtype",
                           "sourcesPath", "destinationsPath", "weightsPath", "weight_bytes",
                           "weight_dtype", "compression"))
        self.check(m.get("format") == "edge_pairs", f"{w}: format is not edge_pairs")
        n, e, mx = m.get("n_cells"), m.get("n_edges"), m.get("max_neighbors")
        if not (self.check(is_int(n) and 1 <= n <= 2**32, f"{w}: n_cells is not in 1..2^32")
                & self.check(is_int(e) and 0 <= e, f"{w}: n_edges is not a non-negative integer")
                & self.check(is_int(mx) and mx >= 0, f"{w}: max_neighbors is not a non-negative integer")):
            return
        n, e, mx = int(n), int(e), int(mx)
        self.check(n == self.n_cells, f"{w}: n_cells {n} is not the identity's {self.n_cells}")
        self.check(e == ident["stats"]["n_edges"], f"{w}: n_edges {e} is not the identity's "
                   f"{ident['stats']['n_edges']}")
        self.check(e <= n * (n - 1) // 2, f"{w}: n_edges {e} is more than n(n-1)/2")
        self.check(mx <= min(n - 1, e) and (mx == 0) == (e == 0),
                   f"{w}: max_neighbors {mx} is not within min(n_cells-1, n_edges), or not 0 "
                   f"exactly when there is no edge")
        width = 2 if n <= 65536 else 4
        self.check((m.get("index_bytes"), m.get("index_dtype")) == (width, f"uint{8 * width}"),
                   f"{w}: index {m.get('index_dtype')}/{m.get('index_bytes')} is not the smallest "
                   f"that fits, uint{8 * width}/{width}")
        self.check((m.get("weight_dtype"), m.get("weight_bytes")) == ("float64", 8),
                   f"{w}: weights must be float64/8")
        self.check(compression_ok(m.get("compression")), f"{w}: compression is not null or 1-9")
        paths = [m.get(k) for k in ("sourcesPath", "destinationsPath", "weightsPath")]
        gz = m.get("compression") is not None
        for p in paths:
            if self.check(isinstance(p, str), f"{w}: a path is not a string"):
                self.check(p.endswith(".gz") == gz, f"{w}: {p!r} ends in .gz iff compression is set")
        self.check(len(set(map(repr, paths))) == 3, f"{w}: the three paths are not all different")
        per_edge = 48 if width == 2 else 44
        self.check(per_edge * e + 4 * n <= PAYLOAD_LIMIT,
                   f"{w}: connectivity working set {per_edge * e + 4 * n} bytes over 512 MiB")
        if not all(isinstance(p, str) and self.ref(p, f"connectivity {p}") for p in paths):
            return
        it = "u2" if m.get("index_bytes") == 2 else "u4"
        src = self.payload(paths[0], e, it)
        dst = self.payload(paths[1], e, it)
        wt = self.payload(paths[2], e, "f8")
        if src is None or dst is None:
            return
        src, dst = src.astype(np.int64), dst.astype(np.int64)
        self.check(bool((src < dst).all()), f"{w}: {int((src >= dst).sum())} edges without source < destination")
        self.check(bool((dst < n).all()), f"{w}: an index is not below n_cells")
        key = src * n + dst
        self.check(bool((np.diff(key) > 0).all()),
                   f"{w}: edges are not strictly increasing by (source, destination)")
        if wt is not None:
            bad = int((~(np.isfinite(wt) & (wt > 0))).sum())
            self.check(bad == 0, f"{w}: {bad} weights are not finite and > 0")
        ends = np.concatenate([src, dst])
        ends = ends[(ends >= 0) & (ends < n)]
        degree = int(np.bincount(ends, minlength=1).max()) if e else 0
        self.check(degree == mx, f"{w}: the largest degree is {degree}, max_neighbors says {mx}")

    # ---- §7: vector fields

    def g_vectors(self):
        d = self.docs["dataset_identity.json"]
        if "vector_fields" not in d:
            return
        w = "dataset_identity.json: vector_fields"
        v = d["vector_fields"]
        if not self.closed(w, v, ("default_field", "fields")):
            return
        fields = v["fields"]
        if not self.check(isinstance(fields, dict) and fields, f"{w}: fields is not a non-empty object"):
            return
        self.check(isinstance(v["default_field"], str) and v["default_field"] in fields,
                   f"{w}: default_field does not name a field (the folder picker wants one)")
        emb = d["embeddings"]["available_dimensions"]
        gz = ".gz" if self.compression else ""
        for pos, (name, f) in enumerate(fields.items()):
            where = f"{w}.fields[{name!r}]"
            if not self.closed(where, f, ("label", "basis", "available_dimensions",
                                          "default_dimension", "files")):
                continue
            self.check(f["label"] == name, f"{where}: label is not the field id")
            self.check(f["basis"] == "umap", f"{where}: basis is not umap")
            dims = f["available_dimensions"]
            ok = (isinstance(dims, list) and dims and all(is_int(x) and x in emb for x in dims)
                  and all(a < b for a, b in zip(dims, dims[1:])))
            if not self.check(ok, f"{where}: available_dimensions is not an increasing subset "
                                  f"of the embeddings'"):
                continue
            self.check(f["default_dimension"] == max(dims), f"{where}: default_dimension is not the largest")
            if not self.closed(f"{where}.files", f["files"], tuple(f"{int(x)}d" for x in dims)):
                continue
            for dim in dims:
                rel = f["files"][f"{int(dim)}d"]
                why = identity_path_problem(rel)
                if not self.check(not why, f"{where}: {rel!r} {why}"):
                    continue
                self.check(rel == f"vectors/{pos}_{int(dim)}d.bin{gz}",
                           f"{where}: {rel!r} is not vectors/{pos}_{int(dim)}d.bin{gz}")
                self.ref(rel, f"vector field {name}")
                vec = self.payload(rel, self.n_cells * int(dim), "f4")
                if vec is not None:
                    self.check(bool(np.isfinite(vec).all()), f"{rel}: values are not all finite")

    # ---- §8 and §13: agreement between files

    def g_cross_file(self):
        ident = self.docs["dataset_identity.json"]
        stats, obs = ident["stats"], self.docs["obs_manifest.json"]
        self.check(obs.get("n_points") == stats["n_cells"],
                   f"obs_manifest.json: n_points {obs.get('n_points')} is not stats.n_cells {stats['n_cells']}")
        listed = ident["obs_fields"]
        expanded = [{"key": f[1], "kind": f[2]} | ({"n_categories": f[3]} if f[2] == "category" else {})
                    for f in self.obs_fields]
        self.check(len(listed) == len(expanded), "identity obs_fields and the obs manifest differ in length")
        for k, (a, b) in enumerate(zip(listed, expanded)):
            if a != b:
                self.bad(f"identity obs_fields[{k}] {a} does not match the manifest's "
                         f"(continuous first, then categorical) {b}")
                break
        var = self.docs.get("var_manifest.json")
        if var is not None:
            self.check(var.get("n_points") == stats["n_cells"], "var_manifest.json: n_points is not stats.n_cells")
            self.check(len(var.get("fields") or []) == stats["n_genes"],
                       f"var_manifest.json: {len(var.get('fields') or [])} genes, stats.n_genes is {stats['n_genes']}")
        else:
            self.check(stats["n_genes"] == 0, "var_manifest.json: missing while stats.n_genes > 0")
        conn = self.docs.get("connectivity_manifest.json")
        self.check((conn is not None) == (stats["has_connectivity"] is True),
                   "connectivity_manifest.json: not present exactly when has_connectivity is true")

        c = obs.get("compression")
        for rel in ("var_manifest.json", "connectivity_manifest.json"):
            doc = self.docs.get(rel)
            if doc is not None:
                self.check(doc.get("compression") == c, f"{rel}: compression {doc.get('compression')!r} "
                           f"is not the obs manifest's {c!r}")
        for k, p in ident["embeddings"]["files"].items():
            self.check(isinstance(p, str) and p.endswith(".gz") == (c is not None),
                       f"embedding {k} {p!r}: the .gz suffix does not follow compression {c!r}")

        x = ident.get("export_settings")
        if x is None:
            return
        self.check(x.get("compression") == c, "export_settings.compression is not the obs manifest's")
        schemas = obs.get("_obsSchemas", {})
        if "continuous" in schemas:
            s = schemas["continuous"]
            bits = s.get("quantizationBits") if s.get("quantized") else None
            self.check(x.get("obs_continuous_quantization") == bits,
                       f"export_settings.obs_continuous_quantization {x.get('obs_continuous_quantization')!r} "
                       f"is not the continuous schema's {bits!r}")
        if "categorical" in schemas:
            s = schemas["categorical"]
            bits = {"uint8": 8, "uint16": 16}.get(s.get("outlierDtype")) if s.get("outlierQuantized") else None
            self.check(x.get("obs_continuous_quantization") == bits,
                       "export_settings.obs_continuous_quantization is not the outliers' quantization")
            for f in self.obs_fields:
                if f[2] == "category" and f[4][3] != x.get("obs_categorical_dtype"):
                    self.bad(f"field {f[1]!r}: codes {f[4][3]} but export_settings.obs_categorical_dtype "
                             f"is {x.get('obs_categorical_dtype')!r} (leave export_settings out when "
                             f"code widths mix)")
                    break
        if var is not None:
            self.check(x.get("var_quantization") == var.get("quantization"),
                       "export_settings.var_quantization is not the var manifest's quantization")

    # ---- §1, §3.5, §4, §14: field and gene payloads

    def decode_continuous(self, rel, schema, t):
        """float64 values with NaN for missing, or None."""
        q = schema.get("quantized") is True
        bits = schema.get("quantizationBits") if q else None
        raw = self.payload(rel, self.n_cells, {8: "u1", 16: "u2"}.get(bits, "f4"))
        if raw is None:
            return None
        if not q:
            return raw.astype(np.float64)
        top = 254 if bits == 8 else 65534
        lo, hi = t[-2], t[-1]
        v = lo + raw.astype(np.float64) * ((hi - lo) / top)
        return np.where(raw > top, np.nan, v)

    def values_usable(self, rel, v, schema):
        if schema.get("quantized") is not True:
            inf = int(np.isinf(v).sum())
            self.check(inf == 0, f"{rel}: {inf} values are ±Infinity (the viewer cannot colour it)")
        self.check(bool(np.isfinite(v).any()), f"{rel}: no value in any of {len(v)} cells")

    def g_payloads(self):
        obs = self.docs["obs_manifest.json"]
        schemas = obs.get("_obsSchemas", {})
        for idx, key, kind, n_cat, t in self.obs_fields:
            if not is_int(idx):
                continue
            if kind == "continuous":
                s = schemas["continuous"]
                rel = s["pathPattern"].replace("{index}", str(int(idx)))
                if self.ref(rel, f"obs field {key!r}"):
                    v = self.decode_continuous(rel, s, t)
                    if v is not None:
                        self.values_usable(rel, v, s)
                continue
            s = schemas["categorical"]
            ext = {"uint8": "u8", "uint16": "u16"}.get(t[3], "u8")
            rel = s["codesPathPattern"].replace("{index}", str(int(idx))).replace("{ext}", ext)
            if self.ref(rel, f"obs field {key!r} codes"):
                codes = self.payload(rel, self.n_cells, "u1" if ext == "u8" else "u2")
                if codes is not None and n_cat is not None:
                    bad = int(((codes >= n_cat) & (codes != t[4])).sum())
                    self.check(bad == 0, f"{rel}: {bad} codes are outside the {n_cat} categories")
            if s.get("outlierPathPattern") is None:
                continue
            rel = s["outlierPathPattern"].replace("{index}", str(int(idx)))
            if self.ref(rel, f"obs field {key!r} outliers"):
                oq = s.get("outlierQuantized") is True
                bits = {"uint8": 8, "uint16": 16}.get(s.get("outlierDtype"))
                v = self.decode_continuous(rel, {"quantized": oq, "quantizationBits": bits}, t)
                if v is not None:
                    v = v.astype(np.float32)  # stored in a Float32Array
                    bad = int(((v < 0) | (v > 1) | np.isinf(v)).sum())
                    self.check(bad == 0, f"{rel}: {bad} outlier quantiles are neither NaN nor in [0, 1]")
        var = self.docs.get("var_manifest.json")
        if var is None or not isinstance(var.get("_varSchema"), dict):
            return
        s = var["_varSchema"]
        for t in self.genes:
            if is_int(t[0]) and isinstance(s.get("pathPattern"), str):
                rel = s["pathPattern"].replace("{index}", str(int(t[0])))
                if self.ref(rel, f"gene {t[1]!r}"):
                    v = self.decode_continuous(rel, s, t)
                    if v is not None:
                        self.values_usable(rel, v, s)

    # ---- §9: catalogs (only when the tree holds one)

    def g_catalog(self):
        w = "datasets.json"
        c = self.load_json(w)
        if not self.closed(w, c, ("version", "default", "datasets")):
            return
        self.check(is_int(c["version"]) and c["version"] == 1, f"{w}: version is not 1")
        ds = c["datasets"]
        if not self.check(isinstance(ds, list) and ds, f"{w}: datasets is not a non-empty list"):
            return
        ids = [e.get("id") if isinstance(e, dict) else None for e in ds]
        self.check(c["default"] in ids and nonempty_str(c["default"]), f"{w}: default names no dataset")
        self.check(len(set(map(repr, ids))) == len(ids), f"{w}: ids repeat")
        paths = set()
        for k, e in enumerate(ds):
            where = f"{w}: datasets[{k}]"
            if not self.closed(where, e, ("id", "path"), ("name", "description", "n_cells", "n_genes")):
                continue
            p = e["path"]
            why = identity_path_problem(p.rstrip("/")) if isinstance(p, str) else "not a string"
            if not self.check(isinstance(p, str) and p.endswith("/") and not why and p not in paths,
                              f"{where}: path {p!r} is not a unique relative directory ending in / ({why})"):
                continue
            paths.add(p)
            self.dataset_dirs.append(p)
            sub = self.load_json(os.path.join(p, "dataset_identity.json"))
            if isinstance(sub, dict):
                self.check(sub.get("id") == e["id"], f"{where}: id is not its identity's")
                for k2 in ("name", "description"):
                    if k2 in e:
                        self.check(e[k2] == sub.get(k2), f"{where}: {k2} is not its identity's")
                for k2 in ("n_cells", "n_genes"):
                    if k2 in e:
                        self.check(e[k2] == (sub.get("stats") or {}).get(k2), f"{where}: {k2} is not its identity's")

    # ---- §10: the handshake files

    def g_handshake(self):
        h, i, l = (self.load_json(rel) for rel in HANDSHAKE)
        if self.closed("_cellucid/health", h, ("status", "type", "version")):
            self.check(h["status"] == "ok" and h["type"] == "exported",
                       "_cellucid/health: not status ok, type exported")
            self.check(isinstance(h["version"], str) and h["version"] and not re.search(r"\s", h["version"]),
                       "_cellucid/health: version is not non-empty text without whitespace")
        if self.closed("_cellucid/info", i, ("version", "host", "port", "mode"), ("ws_port",)):
            self.check(isinstance(h, dict) and i["version"] == h.get("version"),
                       "_cellucid/info: version is not health's")
            self.check(isinstance(i["host"], str) and i["host"] and not re.search(r"\s", i["host"]),
                       "_cellucid/info: host is not text without whitespace")
            self.check(is_int(i["port"]) and 1 <= i["port"] <= 65535, "_cellucid/info: port is not 1-65535")
            self.check(i["mode"] == "standalone", "_cellucid/info: mode is not standalone")
            self.check("ws_port" not in i, "_cellucid/info: ws_port without a WebSocket server")
        if not self.closed("_cellucid/datasets", l, ("datasets",)):
            return
        ds = l["datasets"]
        if not self.check(isinstance(ds, list) and ds, "_cellucid/datasets: datasets is not a non-empty list"):
            return
        seen_ids, seen_paths = set(), set()
        for k, e in enumerate(ds):
            where = f"_cellucid/datasets: datasets[{k}]"
            if not self.closed(where, e, ("id", "path", "name"), ("state_manifest", "state_sha256")):
                continue
            self.check(exact_str(e["id"]) and exact_str(e["name"]),
                       f"{where}: id and name must be exact text (no surrounding whitespace or control characters)")
            self.check(("state_manifest" in e) == ("state_sha256" in e), f"{where}: state_* keys not together")
            if "state_manifest" in e:
                self.check(e["state_manifest"] == "state-snapshots.json", f"{where}: state_manifest")
                self.check(isinstance(e["state_sha256"], str) and re.fullmatch(r"[0-9a-f]{64}", e["state_sha256"]),
                           f"{where}: state_sha256 is not 64 lowercase hex digits")
            p = e["path"]
            m = re.fullmatch(r"/(?:([A-Za-z0-9][A-Za-z0-9._-]{0,179})/)?", p) if isinstance(p, str) else None
            ok = m is not None and not (m.group(1) or "").endswith(".") and \
                (m.group(1) or "").upper() not in WINDOWS_DEVICES
            self.check(ok, f"{where}: path {p!r} is not / or /<dir>/")
            self.check(repr(e["id"]) not in seen_ids and repr(p) not in seen_paths, f"{where}: id or path repeats")
            seen_ids.add(repr(e["id"]))
            seen_paths.add(repr(p))
            if ok:
                ident = self.docs.get("dataset_identity.json") if p == "/" else \
                    self.load_json(p.lstrip("/") + "dataset_identity.json")
                if isinstance(ident, dict):
                    self.check(ident.get("id") == e["id"], f"{where}: id {e['id']!r} is not the identity's "
                               f"{ident.get('id')!r}")
                    self.check(ident.get("name") == e["name"], f"{where}: name {e['name']!r} is not the "
                               f"identity's {ident.get('name')!r}")

    # ---- our own: nothing in the tree that no metadata names

    def g_tree(self):
        named = set(self.refs) | {rel for rel in METADATA if self.docs.get(rel) is not None}
        named |= set(HANDSHAKE) | {"datasets.json"}
        stray = []
        for d, dirs, files in os.walk(self.root):
            # a collection's datasets are checked on their own
            dirs[:] = [x for x in dirs if not x.startswith(".") and
                       os.path.relpath(os.path.join(d, x), self.root) + "/" not in self.dataset_dirs]
            for f in files:
                rel = os.path.relpath(os.path.join(d, f), self.root)
                if not f.startswith(".") and rel not in named:
                    stray.append(rel)
        self.check(not stray, f"{len(stray)} files are not referenced by any metadata: {sorted(stray)[:5]}")

    DATASET = (
        ("metadata documents (§1)", g_documents),
        ("dataset_identity.json (§2)", g_identity),
        ("obs_manifest.json (§3)", g_obs_manifest),
        ("var_manifest.json (§4)", g_var_manifest),
        ("embeddings (§5, §14, §15)", g_embeddings),
        ("connectivity and edges (§6, §15)", g_connectivity),
        ("vector fields (§7)", g_vectors),
        ("cross-file agreement (§8, §13)", g_cross_file),
        ("field and gene payloads (§1, §3.5, §4, §14)", g_payloads),
    )
    HANDSHAKE = (("handshake files (§10)", g_handshake),)
    TREE = (("tree: every file named by metadata", g_tree),)
    CATALOG = (("catalog datasets.json (§9)", g_catalog),)

    def run(self, label, groups):
        """Print each group's verdict and problems; the number of problems."""
        self.compression = None
        self.obs_fields, self.genes, self.obs_schema, self.dataset_dirs = [], [], {}, []
        skip_rest = False
        for name, fn in groups:
            self.problems = []
            if skip_rest and fn not in (Strict.g_handshake,):
                print(f"FAIL {label}: {name}: not checked, the identity or obs manifest is unusable")
                self.total += 1
                continue
            try:
                fn(self)
            except Exception as e:  # a malformed document stops this group only
                self.bad(f"stopped at a malformed value: {type(e).__name__}: {e}")
            print(("ok " if not self.problems else "FAIL ") + f"{label}: {name}")
            for p in self.problems[:20]:
                print(f"    {p}")
            if len(self.problems) > 20:
                print(f"    ... and {len(self.problems) - 20} more")
            self.total += len(self.problems)
            if fn in (Strict.g_identity, Strict.g_obs_manifest) and (
                    self.problems and (self.n_cells is None or
                                       self.docs.get("obs_manifest.json") is None)):
                skip_rest = True
        return self.total


def check_tree(root, label):
    """A dataset directory, or a collection root (datasets.json, _cellucid/,
    one directory per dataset) and each of its datasets; the summary line and
    the number of problems."""
    if os.path.isfile(os.path.join(root, "dataset_identity.json")) or \
            not os.path.isfile(os.path.join(root, "datasets.json")):
        total = Strict(root).run(label, Strict.DATASET + Strict.HANDSHAKE + Strict.TREE)
    else:
        top = Strict(root)
        total = top.run(label, Strict.CATALOG + Strict.HANDSHAKE + Strict.TREE)
        for path in top.dataset_dirs:
            total += Strict(os.path.join(root, path)).run(f"{label}/{path.rstrip('/')}",
                                                          Strict.DATASET + Strict.TREE)
    print(f"strict: {total} problems")
    return total


# -------------------------------------------------------------- self-test

def read_any(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    return gzip.decompress(raw) if path.endswith(".gz") else raw


def write_any(path, data):
    with open(path, "wb") as fh:
        fh.write(gzip.compress(data, 6, mtime=0) if path.endswith(".gz") else data)


def edit_json(root, rel, fn):
    path = os.path.join(root, rel)
    with open(path) as fh:
        doc = json.load(fh)
    if fn(doc) is False:
        return False
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return True


def edit_array(root, rel, dtype, fn):
    path = os.path.join(root, rel)
    a = np.frombuffer(read_any(path), dtype=np.dtype(dtype).newbyteorder("<")).copy()
    if fn(a) is False:
        return False
    write_any(path, a.tobytes())
    return True


def obs_doc(root):
    with open(os.path.join(root, "obs_manifest.json")) as fh:
        return json.load(fh)


def conn_doc(root):
    with open(os.path.join(root, "connectivity_manifest.json")) as fh:
        return json.load(fh)


def first_payload(root, kind):
    """(path, dtype, tuple) of the first continuous field or categorical codes."""
    m = obs_doc(root)
    if kind == "continuous" and m["_continuousFields"]:
        s, t = m["_obsSchemas"]["continuous"], m["_continuousFields"][0]
        dt = {"uint8": "u1", "uint16": "u2", "float32": "f4"}[s["dtype"]]
        return s["pathPattern"].replace("{index}", str(t[0])), dt, t
    if kind == "codes" and m["_categoricalFields"]:
        s, t = m["_obsSchemas"]["categorical"], m["_categoricalFields"][0]
        ext = "u8" if t[3] == "uint8" else "u16"
        return s["codesPathPattern"].replace("{index}", str(t[0])).replace("{ext}", ext), \
            ("u1" if ext == "u8" else "u2"), t
    if kind == "outliers" and m["_categoricalFields"]:
        s, t = m["_obsSchemas"]["categorical"], m["_categoricalFields"][0]
        return s["outlierPathPattern"].replace("{index}", str(t[0])), \
            {"uint8": "u1", "uint16": "u2", "float32": "f4"}[s["outlierDtype"]], t
    return None, None, None


def m_truncate(root):
    rel, _, _ = first_payload(root, "continuous")
    if rel is None:
        return False
    path = os.path.join(root, rel)
    write_any(path, read_any(path)[:-1])
    return True


def m_isize(root):
    rel = conn_doc(root)["sourcesPath"]
    if not rel.endswith(".gz"):
        return False
    path = os.path.join(root, rel)
    raw = bytearray(open(path, "rb").read())
    raw[-4:] = struct.pack("<I", struct.unpack("<I", raw[-4:])[0] + 2)
    open(path, "wb").write(bytes(raw))
    return True


def m_gzip_flag(root):
    rel = conn_doc(root)["destinationsPath"]
    if not rel.endswith(".gz"):
        return False
    path = os.path.join(root, rel)
    raw = bytearray(open(path, "rb").read())
    raw[3] |= 0x20
    open(path, "wb").write(bytes(raw))
    return True


def m_two_members(root):
    rel = conn_doc(root)["weightsPath"]
    if not rel.endswith(".gz"):
        return False
    path = os.path.join(root, rel)
    raw = open(path, "rb").read()
    open(path, "wb").write(gzip.compress(b"", mtime=0) + raw)  # the trailer stays right
    return True


def m_src_ge_dst(root):
    c = conn_doc(root)
    dt = "u2" if c["index_bytes"] == 2 else "u4"
    src = np.frombuffer(read_any(os.path.join(root, c["sourcesPath"])), dtype="<" + dt).copy()
    dst = np.frombuffer(read_any(os.path.join(root, c["destinationsPath"])), dtype="<" + dt).copy()
    src[0], dst[0] = dst[0], src[0]
    write_any(os.path.join(root, c["sourcesPath"]), src.tobytes())
    write_any(os.path.join(root, c["destinationsPath"]), dst.tobytes())
    return True


def m_unsorted(root):
    c = conn_doc(root)
    dt = "u2" if c["index_bytes"] == 2 else "u4"

    def swap(a):
        a[[0, -1]] = a[[-1, 0]]
    for k in ("sourcesPath", "destinationsPath"):
        edit_array(root, c[k], dt, swap)
    edit_array(root, c["weightsPath"], "f8", swap)
    return True


def m_weight(value):
    def mutate(root):
        return edit_array(root, conn_doc(root)["weightsPath"], "f8", lambda a: a.__setitem__(0, value))
    return mutate


def m_code_range(root):
    rel, dt, t = first_payload(root, "codes")
    return rel is not None and edit_array(root, rel, dt, lambda a: a.__setitem__(0, len(t[2])))


def m_all_missing(root):
    rel, dt, _ = first_payload(root, "continuous")
    return rel is not None and edit_array(root, rel, dt, lambda a: a.fill(
        np.nan if dt == "f4" else np.iinfo(dt).max))


def m_infinity(root):
    """An infinite float32 value in the first continuous field, else the first gene."""
    rel, dt, _ = first_payload(root, "continuous")
    var = os.path.join(root, "var_manifest.json")
    if dt != "f4" and os.path.exists(var):
        s = json.load(open(var))["_varSchema"]
        rel, dt = s["pathPattern"].replace("{index}", "0"), {"float32": "f4"}.get(s["dtype"])
    return rel is not None and dt == "f4" and edit_array(root, rel, dt, lambda a: a.__setitem__(0, np.inf))


def m_outlier(root):
    """A quantile of 1.5: stored (float32), or decoded through a max above 1."""
    rel, dt, _ = first_payload(root, "outliers")
    if rel is None:
        return False
    if dt == "f4":
        return edit_array(root, rel, dt, lambda a: a.__setitem__(0, 1.5))
    return edit_json(root, "obs_manifest.json", lambda d: d["_categoricalFields"][0].__setitem__(7, 1.5))


def m_points_nan(root):
    with open(os.path.join(root, "dataset_identity.json")) as fh:
        rel = next(iter(json.load(fh)["embeddings"]["files"].values()))
    return edit_array(root, rel, "f4", lambda a: a.__setitem__(0, np.nan))


def m_stray(root):
    open(os.path.join(root, "obs", "leftover.values.u8"), "wb").write(b"x")
    return True


def m_json_nan(root):
    path = os.path.join(root, "obs_manifest.json")
    text = open(path).read()
    m = re.search(r'"centroid_outlier_quantile":\s*[0-9.]+', text)
    open(path, "w").write(text[:m.start()] + '"centroid_outlier_quantile": NaN' + text[m.end():])
    return True


def m_categorical_first(root):
    def move(d):
        f = d["obs_fields"]
        cat = [x for x in f if x["kind"] == "category"]
        if not cat or len(f) < 2 or f[0]["kind"] == "category":
            return False
        f.remove(cat[0])
        f.insert(0, cat[0])
    return edit_json(root, "dataset_identity.json", move)


def m_mixed_dtype(root):
    """One categorical field claims uint16 (its file renamed to match)."""
    m = obs_doc(root)
    if len(m["_categoricalFields"]) < 2 or "export_settings" not in json.load(
            open(os.path.join(root, "dataset_identity.json"))):
        return False
    rel, _, t = first_payload(root, "codes")
    if t[3] != "uint8":
        return False
    codes = np.frombuffer(read_any(os.path.join(root, rel)), dtype="u1").astype("<u2")
    codes[codes == 255] = 65535
    os.remove(os.path.join(root, rel))
    write_any(os.path.join(root, rel.replace(".codes.u8", ".codes.u16")), codes.tobytes())

    def widen(d):
        d["_categoricalFields"][0][3] = "uint16"
        d["_categoricalFields"][0][4] = 65535
    return edit_json(root, "obs_manifest.json", widen)


def m_key_pattern(root):
    def key(d):
        s = d["_obsSchemas"].get("continuous")
        if not s:
            return False
        s["pathPattern"] = s["pathPattern"].replace("{index}", "{key}")
    return edit_json(root, "obs_manifest.json", key)


def m_vector_path(root):
    def move(d):
        if "vector_fields" not in d:
            return False
        f = next(iter(d["vector_fields"]["fields"].values()))
        k = next(iter(f["files"]))
        f["files"][k] = f["files"][k].replace("vectors/", "vectors/v")
    return edit_json(root, "dataset_identity.json", move)


def m_identity_set(key, value):
    return lambda root: edit_json(root, "dataset_identity.json", lambda d: d.__setitem__(key, value))


def m_settings_auto(root):
    def auto(d):
        if "export_settings" not in d:
            return False
        d["export_settings"]["obs_categorical_dtype"] = "auto"
    return edit_json(root, "dataset_identity.json", auto)


def m_var(fn):
    def mutate(root):
        if not os.path.exists(os.path.join(root, "var_manifest.json")):
            return False
        return edit_json(root, "var_manifest.json", fn)
    return mutate


SELF_TESTS = (
    # (what, mutation, text the report must contain)
    ("an extra identity key", m_identity_set("extra", 1), "unexpected key 'extra'"),
    ("identity version 1", m_identity_set("version", 1), "version is not 2"),
    ("a source without a name", m_identity_set("source", {"url": "https://x"}), "missing key 'name'"),
    ("an id with a space", m_identity_set("id", "pbmc 68k"), "local folder picker"),
    ("a categorical field first in obs_fields", m_categorical_first, "does not match the manifest"),
    ("obs_categorical_dtype auto", m_settings_auto, "not uint8 or uint16"),
    ("mixed code widths with export_settings", m_mixed_dtype, "leave export_settings out"),
    ("an extra obs manifest key",
     lambda r: edit_json(r, "obs_manifest.json", lambda d: d.__setitem__("_extra", 0)), "unexpected key '_extra'"),
    ("obs n_points off by one",
     lambda r: edit_json(r, "obs_manifest.json", lambda d: d.__setitem__("n_points", d["n_points"] + 1)),
     "is not stats.n_cells"),
    ("a {key} path pattern", m_key_pattern, "{index} exactly once"),
    ("NaN in a JSON document", m_json_nan, "not valid JSON"),
    ("a repeated var index", m_var(lambda d: d["fields"][1].__setitem__(0, 0)), "gene indices"),
    ("a var tuple of 5", m_var(lambda d: d["fields"][0].append(0)), "expected"),
    ("a wrong decoded length", m_truncate, "expected"),
    ("a wrong gzip ISIZE", m_isize, "ISIZE"),
    ("a reserved gzip flag bit", m_gzip_flag, "flag bits"),
    ("a second gzip member", m_two_members, "one member per file"),
    ("an edge with src >= dst", m_src_ge_dst, "source < destination"),
    ("edges out of order", m_unsorted, "strictly increasing"),
    ("a zero weight", m_weight(0.0), "finite and > 0"),
    ("a NaN weight", m_weight(float("nan")), "finite and > 0"),
    ("max_neighbors off by one",
     lambda r: edit_json(r, "connectivity_manifest.json",
                         lambda d: d.__setitem__("max_neighbors", d["max_neighbors"] - 1)), "max_neighbors"),
    ("uint32 indices for a small graph",
     lambda r: edit_json(r, "connectivity_manifest.json", lambda d: d.update(index_bytes=4, index_dtype="uint32"))
     if conn_doc(r)["index_bytes"] == 2 else False, "smallest"),
    ("no weights in the manifest",
     lambda r: edit_json(r, "connectivity_manifest.json", lambda d: d.pop("weightsPath")), "missing key 'weightsPath'"),
    ("a code outside the categories", m_code_range, "outside the"),
    ("a field missing in every cell", m_all_missing, "no value in any"),
    ("an infinite float32 value", m_infinity, "Infinity"),
    ("an outlier quantile of 1.5", m_outlier, "[0, 1]"),
    ("a NaN coordinate", m_points_nan, "not finite"),
    ("a vector file off the folder picker's naming", m_vector_path, "is not vectors/"),
    ("a ws_port in info",
     lambda r: edit_json(r, "_cellucid/info", lambda d: d.__setitem__("ws_port", 8081)), "ws_port"),
    ("a listing name that differs",
     lambda r: edit_json(r, "_cellucid/datasets", lambda d: d["datasets"][0].__setitem__("name", "other")),
     "is not the identity's"),
    ("a stray file", m_stray, "not referenced"),
)


def self_test(mount, label):
    failures = 0

    def report(ok, what):
        nonlocal failures
        print(("ok " if ok else "FAIL ") + f"{label}: self-test: {what}")
        failures += 0 if ok else 1

    with tempfile.TemporaryDirectory() as tmp:
        pristine = os.path.join(tmp, "pristine")
        shutil.copytree(mount, pristine)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            n = check_tree(pristine, label)
        report(n == 0, f"the pristine copy passes ({n} problems)")
        for what, mutate, expect in SELF_TESTS:
            work = os.path.join(tmp, "work")
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(pristine, work)
            if mutate(work) is False:
                print(f"skip {label}: self-test: {what}: not applicable to this tree")
                continue
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                n = check_tree(work, label)
            found = expect in out.getvalue()
            report(n > 0 and found, f"{what} is reported" + ("" if found else
                   f" (expected {expect!r}; got {n} problems: "
                   f"{[line.strip() for line in out.getvalue().splitlines() if line.startswith('    ')][:3]})"))
    return 1 if failures else 0


def main():
    args = sys.argv[1:]
    if args and args[0] == "--self-test":
        mount = args[1]
        return self_test(mount, args[2] if len(args) > 2 else os.path.basename(mount))
    if not args:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    label = args[1] if len(args) > 1 else os.path.basename(os.path.normpath(args[0]))
    return 1 if check_tree(args[0], label) else 0


if __name__ == "__main__":
    sys.exit(main())
