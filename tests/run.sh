#!/usr/bin/env bash
# tests/run.sh - run every test and count: the unit tests (normal and under
# ASan/UBSan), the mount tests on the real fixtures (normal and ASan daemon),
# nginx over a mount, and the generated 100 000-cell dataset. Each test prints
# "ok ...", "FAIL ..." or "skip ..." lines; the last line is the tally.
cd "$(dirname "$0")/.." || exit 1

# A test that hangs (a request the daemon never answers) fails after this
# many seconds instead of holding the suite; the whole suite takes ~4 min.
LIMIT=${TEST_LIMIT:-600}

passed=0 failed=0 skipped=0
run() { # run LABEL command...
	local label=$1; shift
	echo "== $label"
	local out status
	out=$(timeout --kill-after=20 "$LIMIT" "$@" 2>&1); status=$?
	printf '%s\n' "$out"
	local p f s
	p=$(grep -c '^ok ' <<<"$out"); f=$(grep -c '^FAIL ' <<<"$out"); s=$(grep -c '^skip ' <<<"$out")
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		echo "FAIL $label did not finish within $LIMIT s"
		f=$((f + 1))
	elif [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $label exited with status $status"
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build/tests/test_*; do run "$(basename "$t")" "$t"; done
for t in build/asan/tests/test_*; do run "$(basename "$t") (ASan/UBSan)" "$t"; done
run "mount pbmc68k_reduced" bash tests/mount.sh
run "mount pbmc68k_reduced (ASan/UBSan daemon)" env CELLUCIDFS_BIN=build/asan/cellucidfs bash tests/mount.sh
run "persistent cache" bash tests/cache.sh
run "expression, gene_id_column and obs_keys options" bash tests/options.sh
run "directory source" bash tests/collection.sh
run "follow the source: rewrites, renames, nginx load" bash tests/follow.sh
run "follow a directory source: datasets come and go, nginx load" bash tests/follow_dir.sh
run "Zarr stores (v2 every compressor, v3 every codec)" bash tests/zarr.sh
run "the daemon confines itself" bash tests/confine.sh
run "a drop directory tried by an unprivileged user" bash tests/drop.sh
run "vector fields" bash tests/vectors.sh
run "layout=index and the strict checker" bash tests/index_layout.sh
run "parity with the newest exporter (default mount)" bash tests/parity.sh
run "every encoding and hostile name, checked by an anndata oracle" bash tests/compat.sh
run "command line, man page, install, export, status" bash tests/cli.sh
run "check command" bash tests/check_cmd.sh
run "a file reaching outside itself, and a FIFO" bash tests/outside.sh
run "a source changed in place while mounted: EIO, never wrong bytes" bash tests/changed.sh
run "the hostile corpus: check, mount, read, unmount" bash tests/hostile.sh
run "mount(8) and fstab" bash tests/fstab.sh
run "the Debian package in a fresh Debian 12 root" bash tests/deb.sh
run "nginx over pbmc68k_reduced" bash tests/nginx_mount.sh
run "the web app beside the data: proxy, cache, local checkout, https" bash tests/viewer.sh
run "the Cellucid web app loads a default mount (real app when one is here)" bash tests/viewer_app.sh
run "two replicas behind nginx" bash tests/replicas.sh
run "generated X variants: gzip, LZF, dense" bash tests/gen_variants.sh
run "generated 100 000 cells" bash tests/large.sh

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
