#!/usr/bin/env bash
# tests/cli.sh - the operator's surface: --help lists every option, --version,
# the man page is warning-free, make install puts binary, man page, preview
# and nginx block under PREFIX, export writes exactly what cp -r of a mount
# gives (with progress lines when not on a terminal) and gene files that are
# libdeflate's own level-6 bytes, and the hidden
# .cellucidfs/status.json counts what the daemon did.
source "$(dirname "$0")/lib.sh"

out=$("$BIN" --version)
check "--version names the version" grep -q "^cellucidfs [0-9][0-9.]* (libfuse 3" <<<"$out"
help=$("$BIN" --help)
for opt in compression var_quantization obs_quantization embedding latent dataset_id dataset_name \
	cache_dir prefetch cache_size host port layout expression gene_id_column obs_keys watch settle; do
	grep -q "^ *$opt=" <<<"$help" || grep -q " $opt=" <<<"$help" || fail "--help does not list $opt"
done
check "--help lists every cellucidfs option" grep -q "layout=index|names" <<<"$help"
check "--help names the commands" grep -q "cellucidfs export SOURCE" <<<"$help"
if command -v groff >/dev/null; then
	check "the man page has no groff warning" test -z "$(groff -man -ww -z "$ROOT/man/cellucidfs.1" 2>&1)"
else
	skip "man page: groff is not installed"
fi
for opt in compression var_quantization obs_quantization embedding latent dataset_id cache_dir \
	prefetch layout expression gene_id_column obs_keys confine follow_symlinks watch settle; do
	grep -q "$opt=" "$ROOT/man/cellucidfs.1" || fail "the man page does not document $opt"
done

D=$(mktemp -d)
make -s -C "$ROOT" install DESTDIR="$D" PREFIX=/usr >/dev/null
check "make install: the binary" test -x "$D/usr/bin/cellucidfs"
check "make install: the man page" test -f "$D/usr/share/man/man1/cellucidfs.1"
check "make install: the preview page" test -f "$D/usr/share/cellucidfs/preview/index.html"
check "make install: the nginx server block" test -f "$D/usr/share/cellucidfs/nginx/cellucid.conf"
rm -rf "$D"

mount_test_setup "export and status"
PBMC=$FIXTURES/pbmc68k_reduced.h5ad
"$BIN" export "$PBMC" "$T/out" -o cache_dir=none 2>"$T/export.log" </dev/null
check "export exits 0" test $? -eq 0
check "export reports progress as plain lines off a terminal" grep -q "export [0-9]*%: .* files, .* MB/s, ETA" "$T/export.log"
# deflate-floor (make bench) inflates each gene file with libdeflate and
# zlib (it fails unless both give the same bytes), makes it again with the
# daemon's encoder (gzrle for u8 codes at level 6), libdeflate and zlib, and
# counts the files whose bytes differ: none for the daemon's encoder, whose
# output is deterministic; and its files are no larger in total than zlib's.
floor=$("$ROOT/build/deflate-floor" 6 "$T/out/var")
check "deflate-floor: every gene file inflates alike with libdeflate and zlib" test $? -eq 0
read -r _ _ _ n_genes _ own differ <<<"$(grep '^cellucidfs ' <<<"$floor")"
read -r _ _ _ _ _ zlib _ <<<"$(grep '^zlib ' <<<"$floor")"
check "gene files are the daemon's encoder's level-6 bytes ($n_genes files, $differ differ)" \
	test "${n_genes:-0}" -ge 700 -a "${differ:-1}" -eq 0
check "gene files are no larger in total than zlib level 6's (${own:-?} vs ${zlib:-?} bytes)" \
	test "${own:-1}" -le "${zlib:-0}"
if mount_fs "$PBMC" "$T/mnt" -o cache_dir=none; then
	cp -r "$T/mnt" "$T/copy"
	check "export writes exactly the tree cp -r of a mount gives" diff -r "$T/out" "$T/copy"
	check ".cellucidfs is left out of listings" bash -c "! ls -a '$T/mnt' | grep -q cellucidfs"
	check "status.json counts the files generated and the bytes served" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["files_generated"] >= 787 and s["bytes_served"] > 0 and s["errors"] == 0, s
assert s["gene_index"]["state"] == "ready" and s["cache_key"] is None, s
' "$T/mnt/.cellucidfs/status.json"
	unmount_fs "$T/mnt"
else
	fail "mount pbmc68k_reduced.h5ad"
fi
if mount_fs "$PBMC" "$T/mnt" -o "cache_dir=$T/private-cache-dir"; then
	check "status.json names the store by its key, and holds no path" $PY -c '
import json, re, sys
text = open(sys.argv[1]).read()
s = json.loads(text)
assert re.fullmatch("[0-9a-f]{16}", s["cache_key"]), s
assert sys.argv[2] not in text and "private-cache-dir" not in text and "\"/" not in text, text
' "$T/mnt/.cellucidfs/status.json" "$T"
	unmount_fs "$T/mnt"
else
	fail "mount pbmc68k_reduced.h5ad with a cache_dir"
fi
finish
