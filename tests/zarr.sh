#!/usr/bin/env bash
# tests/zarr.sh - Zarr sources end to end. pbmc68k_reduced written by
# zarr-python 2 with every compressor (directory, zip, zip64, nested,
# consolidated) and converted to v3 with each v3 codec (tests/zarr_gen.py):
# served together with the .h5ad from one directory source, in both
# layouts, every store's tree equals the .h5ad's (payloads byte-identical,
# documents equal apart from the dataset's name); three of them mounted
# alone give the .h5ad's very tree (cp -r byte-identical: the stores carry
# its name and mtime), one also under ASan/UBSan; the generated encodings
# (tests/gen_cases.py) copied into Zarr give the .h5ad files' trees; check
# and export read stores; a broken store gets its one-line reason and a
# symlink in a store is not followed.
#
#   $ bash tests/zarr.sh
#   ok layout=names: blosc-lz4 (directory source) equals the .h5ad's tree
#   ...
source "$(dirname "$0")/lib.sh"

PBMC=$FIXTURES/pbmc68k_reduced.h5ad
mount_test_setup "zarr tests"
if ! $PY -c 'import zarr, anndata, h5py' 2>/dev/null; then
	skip "zarr tests: $PY lacks zarr/anndata (apt-get install python3-zarr python3-anndata)"
	exit 0
fi
$PY tests/zarr_gen.py "$PBMC" "$T/gen" >/dev/null 2>&1 || { fail "tests/zarr_gen.py wrote the stores"; finish; exit; }

# tree SOURCE OUT [options...]: cp -r of SOURCE's mount into OUT; on
# failure, what cp and the daemon said.
tree() {
	local src=$1 out=$2; shift 2
	mount_fs "$src" "$T/mnt" "$@" || return 1
	cp -r "$T/mnt" "$out" 2>"$T/cp.err"
	local status=$?
	unmount_fs "$T/mnt" || status=1
	[ $status -eq 0 ] || { head -5 "$T/cp.err"; grep -v prefetch "$MOUNT_LOG" | head -5; } | sed 's/^/    /'
	return $status
}

# Every store beside the .h5ad, with its mtime (the documents' created_at).
mkdir "$T/all"
cp -p "$PBMC" "$T/all/"
while read -r v; do
	mv "$T/gen/$v" "$T/all/$v"
	touch -r "$PBMC" "$T/all/$v"
done <"$T/gen/variants"
ids=$(sed 's/\.zip$//; s/\.zarr$//' "$T/gen/variants")

for layout in names index; do
	rm -rf "$T/copy"
	tree "$T/all" "$T/copy" -o layout=$layout,cache_dir=none ||
		{ fail "layout=$layout: a directory of the .h5ad and every store mounts"; continue; }
	for id in $ids; do
		check "layout=$layout: $id (directory source) equals the .h5ad's tree" \
			$PY - "$T/copy/pbmc68k_reduced" "$T/copy/$id" "$id" <<'EOF'
import os, sys
# Same files; payloads byte-identical; documents too once the store's
# dataset id (its name, which is also its id) reads as the .h5ad's.
ref, got, name = sys.argv[1:4]
def files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
assert files(ref) == files(got), set(files(ref)) ^ set(files(got))
for rel in files(ref):
    a = open(os.path.join(ref, rel), "rb").read()
    b = open(os.path.join(got, rel), "rb").read()
    if rel.endswith(".json"):
        b = b.replace(b'"%s"' % name.encode(), b'"pbmc68k_reduced"')
    assert a == b, rel
EOF
	done
done

for layout in names index; do
	tree "$PBMC" "$T/h5ad-$layout" -o layout=$layout,cache_dir=none ||
		{ fail "mount the .h5ad, layout=$layout"; finish; exit; }
done
# Mounted alone, renamed after the .h5ad: its very tree.
for v in blosc-lz4.zarr zip.zarr.zip v3-sharded.zarr; do
	ext=.zarr; [[ $v == *.zip ]] && ext=.zarr.zip
	mkdir -p "$T/v/$v"
	mv "$T/all/$v" "$T/v/$v/pbmc68k_reduced$ext"
	for layout in names index; do
		rm -rf "$T/copy"
		if tree "$T/v/$v/pbmc68k_reduced$ext" "$T/copy" -o layout=$layout,cache_dir=none; then
			check "$v mounted alone, layout=$layout: cp -r equals the .h5ad mount's" \
				diff -r "$T/h5ad-$layout" "$T/copy"
		else
			fail "$v mounted alone, layout=$layout: mounts"
		fi
	done
done

# The generated encodings (tests/gen_cases.py: nullable columns, CSC and
# integer X, raw, layers, index groups, LZF, hostile names...) copied
# element by element into Zarr (tests/zarr_copy.py; a name over 255 bytes
# into a .zarr.zip): served from one directory, the stores give the .h5ad
# files' very trees, datasets.json too. Three encodings Zarr cannot hold are
# left out, each for its reason (tests/zarr_copy.py says more).
$PY tests/gen_cases.py "$T/cases" >/dev/null
left_out=$($PY tests/zarr_copy.py "$T/cases" "$T/zcases" 2>&1)
mkdir "$T/hcases"
for z in "$T/zcases"/*.zarr "$T/zcases"/*.zarr.zip; do
	z=${z##*/}
	cp -p "$T/cases/${z%%.zarr*}.h5ad" "$T/hcases/"
done
check "a name over 255 bytes is copied into a zip store" test -f "$T/zcases/hostile_long_key.zarr.zip"
check "only the encodings Zarr cannot hold are left out, for their reasons" test "$left_out" = "\
hostile_non_utf8.h5ad: a name that is not UTF-8 (JSON attributes are Unicode text)
hostile_paths.h5ad: a name holding \"/\", \".\" or \"..\": '..'
legacy_compound.h5ad: a compound dataset (/obs): anndata wrote them to HDF5 only"
for layout in names index; do
	rm -rf "$T/hcopy" "$T/zcopy"
	if tree "$T/hcases" "$T/hcopy" -o layout=$layout,cache_dir=none &&
	   tree "$T/zcases" "$T/zcopy" -o layout=$layout,cache_dir=none; then
		check "layout=$layout: $(ls "$T/zcases" | wc -l) generated encodings as Zarr give the .h5ad files' trees" \
			diff -r "$T/hcopy" "$T/zcopy"
	else
		fail "layout=$layout: the generated encodings mount, as .h5ad and as Zarr"
	fi
done

# The daemon built with ASan/UBSan, on a sharded v3 store.
ASAN_BIN=$ROOT/build/asan/cellucidfs
if [ -x "$ASAN_BIN" ]; then
	rm -rf "$T/copy"
	if BIN=$ASAN_BIN tree "$T/v/v3-sharded.zarr/pbmc68k_reduced.zarr" "$T/copy" -o layout=index,cache_dir=none; then
		check "v3-sharded.zarr under ASan/UBSan: cp -r equals the .h5ad mount's" diff -r "$T/h5ad-index" "$T/copy"
	else
		fail "v3-sharded.zarr under ASan/UBSan: mounts, copies and exits cleanly"
	fi
else
	skip "zarr under ASan/UBSan: no $ASAN_BIN (make asan)"
fi

# check and export read a store as they read an .h5ad.
Z=$T/v/blosc-lz4.zarr/pbmc68k_reduced.zarr
out=$("$BIN" check "$Z" 2>&1)
check "check reads a .zarr store" grep -q "^cells *700$" <<<"$out"
check "check names the dataset after the store" grep -q "^dataset id *pbmc68k_reduced$" <<<"$out"
size=$(find "$Z" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
check "check gives the size of the store's files ($size bytes)" \
	grep -q "^source .*pbmc68k_reduced.zarr ($(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }') MB)$" <<<"$out"
"$BIN" export "$T/v/v3-sharded.zarr/pbmc68k_reduced.zarr" "$T/export" -o layout=index,cache_dir=none \
	2>/dev/null </dev/null
check "export of a v3 store writes the .h5ad mount's tree" diff -r "$T/h5ad-index" "$T/export"

# Which members of a directory source are datasets.
mkdir -p "$T/src"
cp -p "$PBMC" "$T/src/"
cp -rp "$Z" "$T/src/zarr_copy.zarr"
cp -p "$T/v/zip.zarr.zip/pbmc68k_reduced.zarr.zip" "$T/src/zipped.zarr.zip"
mkdir "$T/src/notastore.zarr" "$T/src/plain"
cp -rp "$Z" "$T/src/plain/inner.zarr"  # not at the top: not a member
if mount_fs "$T/src" "$T/mnt"; then
	check "a directory source serves .zarr and .zarr.zip stores beside the .h5ad" \
		test "$(ls "$T/mnt" | tr '\n' ' ')" = "_cellucid datasets.json pbmc68k_reduced zarr_copy zipped "
	check "a .zarr directory that is no store is skipped with its reason" \
		grep -q "notastore.zarr skipped: .*not a Zarr store" "$MOUNT_LOG"
	unmount_fs "$T/mnt"
else
	fail "mount a directory of .zarr stores"
fi

# A store edited in place (the root directory's stat unchanged): the cache
# of the old version is not served for the new one, and a change while
# mounted fails the read with EIO and a log line, never old or mixed bytes.
E=$T/edit.zarr
cp -rp "$Z" "$E"
mkdir "$T/ecache"
obs_file() { cat "$T/mnt/obs/n_counts.values.u8.gz"; }
if mount_fs "$E" "$T/mnt" -o layout=names,cache_dir=$T/ecache,prefetch=none; then
	before=$(obs_file | md5sum); unmount_fs "$T/mnt"
	root=$(stat -c %i.%s.%Y.%Z "$E")
	$PY -c 'import sys, zarr; z = zarr.open_array(sys.argv[1], mode="r+"); z[:] = z[:][::-1]' "$E/obs/n_counts"
	check "zarr-python's rewrite of obs/n_counts leaves the root's stat as it was" test "$(stat -c %i.%s.%Y.%Z "$E")" = "$root"
	mount_fs "$E" "$T/mnt" -o layout=names,cache_dir=$T/ecache,prefetch=none && { cached=$(obs_file | md5sum); unmount_fs "$T/mnt"; }
	mount_fs "$E" "$T/mnt" -o layout=names,cache_dir=none,prefetch=none && { fresh=$(obs_file | md5sum); unmount_fs "$T/mnt"; }
	check "an in-place edit of a chunk: the cached file is the new version's" test "$cached" = "$fresh" -a "$fresh" != "$before"
	check "and the cache holds one store per version" test "$(ls "$T/ecache" | wc -l)" -eq 2
else
	fail "mount a store with a cache directory"
fi
if mount_fs "$E" "$T/mnt" -o layout=names,cache_dir=none,prefetch=none; then
	ino=$(stat -c %i.%s "$E/X/0.0")
	printf x | dd of="$E/X/0.0" bs=1 seek=20 conv=notrunc status=none
	check "the chunk is rewritten in place (same inode and size)" test "$(stat -c %i.%s "$E/X/0.0")" = "$ino"
	out=$(cat "$T/mnt/var/$(ls "$T/mnt/var" | head -1)" 2>&1 >/dev/null)
	check "a chunk changed while mounted: the read fails with EIO" grep -q "Input/output error" <<<"$out"
	check "and the log says the store changed while mounted" grep -q "edit.zarr changed while mounted" "$MOUNT_LOG"
	unmount_fs "$T/mnt"
else
	fail "mount an edited store"
fi

# Followed (watch=yes): a store left alone is never taken for changed (the
# watcher's identity of it is the source's, its whole tree), and one
# rewritten in place is switched to once, when settled.
if mount_fs "$E" "$T/mnt" -o layout=names,cache_dir=none,prefetch=none,watch=yes,settle=1; then
	sleep 3.5
	check "a watched store left alone is not switched to itself" test "$(grep -c ' changed: now' "$MOUNT_LOG")" -eq 0
	$PY -c 'import sys, zarr; z = zarr.open_array(sys.argv[1], mode="r+"); z[:] = z[:] + 1' "$E/obs/n_counts"
	wait_until 15 grep -q "edit.zarr changed: now" "$MOUNT_LOG"
	sleep 2.5
	check "a watched store rewritten in place is switched to, once" test "$(grep -c ' changed: now' "$MOUNT_LOG")" -eq 1
	now=$(obs_file | md5sum)
	unmount_fs "$T/mnt"
	mount_fs "$E" "$T/mnt" -o layout=names,cache_dir=none,prefetch=none,watch=no &&
		{ fresh=$(obs_file | md5sum); unmount_fs "$T/mnt"; }
	check "and serves the new version" test "$now" = "$fresh" -a "$now" != "$before"
else
	fail "mount a store to follow"
fi

# Broken stores: the one-line reason, naming the array and the codec. An
# obs field that cannot be read is left out, as from an .h5ad.
B=$T/broken.zarr
cp -r "$Z" "$B"
$PY - "$B/obs/louvain/codes/.zarray" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["compressor"] = {"id": "foo"}
json.dump(d, open(sys.argv[1], "w"))
EOF
out=$("$BIN" check "$B" 2>&1)
check "a field with an unknown compressor is left out, naming the array and the codec" \
	grep -q "obs/louvain/codes: unknown compressor 'foo'" <<<"$out"
M=$T/missing.zarr
cp -r "$Z" "$M"
rm "$M/obs/louvain/categories/0"
out=$("$BIN" check "$M" 2>&1)
check "a missing chunk of an array without a fill value leaves the field out, naming the array" \
	grep -q "obs/louvain/categories: chunk 0 is missing and the array has no fill_value" <<<"$out"
echo '{"zarr_format": 2' >"$B/.zgroup"
# (lib.sh's refused, with a time limit: a store that mounts after all would
# hold the test.)
refused_soon() {
	local what=$1 want=$2 out status
	out=$(timeout 60 "$BIN" "$3" "$T/mnt" -f 2>&1); status=$?
	if [ $status -ne 0 ] && [ $status -ne 124 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && grep -qF -- "$want" <<<"$out"; then
		ok "$what"
	else
		fail "$what: status $status, output: $out"
	fi
}
refused_soon "a store whose root metadata is no JSON is refused" ".zgroup: not valid JSON" "$B"
mkdir "$T/empty.zarr"
refused_soon "a .zarr directory that is no store is refused" "not a Zarr store" "$T/empty.zarr"
cp -r "$Z" "$T/link.zarr"
rm "$T/link.zarr/X/0.0"
ln -s "$Z/X/0.0" "$T/link.zarr/X/0.0"
out=$("$BIN" export "$T/link.zarr" "$T/export-link" -o cache_dir=none 2>&1 </dev/null)
check "a chunk that is a symlink is not followed" grep -q "X: X/0.0: a symbolic link, not followed" <<<"$out"
finish
