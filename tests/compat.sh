#!/usr/bin/env bash
# tests/compat.sh - compatibility: every real fixture and every generated case
# (tests/gen_cases.py) mounts, or is refused with one clear line, and every
# mount passes the independent oracle (tests/oracle.py) in both layouts.
#
#   fixtures: pbmc68k_reduced{,_legacy}.h5ad (default settings and float32
#   without compression; both also equal shared/reference via tests/compare.py),
#   anndata_archive_v0.7.{0,8}.h5ad with -o embedding=array, and
#   anndata_archive_v0.11.4.h5ad refused for having no embedding;
#   cases: nullable columns, CSC/integer/float64 X, raw and layers, '/' in
#   keys, empty column-order, index groups, int64/unused/missing categories,
#   LZF, legacy compound layout, vector fields, hostile names (the mount log
#   names what was left out or repaired; JSON is strict UTF-8; nothing escapes
#   the tree).
#
# layout=index is tried first; when the daemon refuses the option, that layout
# is skipped with a message. Mounts run in groups of $GROUP, one oracle
# process per group (python and anndata start once per group).
#
#   $ bash tests/compat.sh
#   ok names case nullable_int: obs: manifest and 4/4 files as expected ...
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
GROUP=${COMPAT_GROUP:-12}

if ! have_fuse; then skip "compatibility tests: no /dev/fuse or fusermount3"; exit 0; fi
if ! $PY -c "import anndata, h5py, scipy" 2>/dev/null; then
	skip "compatibility tests: $PY lacks anndata/h5py/scipy (apt-get install python3-anndata)"; exit 0
fi
if [ ! -x "$BIN" ]; then fail "compatibility tests: $BIN not built"; exit 1; fi

T=$(mktemp -d)
export XDG_CACHE_HOME=$T/cache   # a fresh persistent cache, removed with $T
PIDS=()
cleanup() {
	local m p
	for m in "$T"/mnt/*; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m"; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
start=$SECONDS

$PY tests/gen_cases.py "$T/cases" >/dev/null || { fail "tests/gen_cases.py"; exit 1; }
if [ -d "$FIXTURES" ]; then
	ok "fixtures: $(ls "$FIXTURES" | grep -c '\.h5ad$') .h5ad files in $FIXTURES"
else
	skip "fixtures: $FIXTURES absent (../shared not beside the repo); generated cases only"
fi

# --- which layouts does this build offer?
layouts=(names)
probe=$T/cases/nullable_int.h5ad
mkdir -p "$T/probe"
"$BIN" "$probe" "$T/probe" -f -o layout=index >"$T/probe.log" 2>&1 &
ppid=$!
for _ in $(seq 1 100); do mountpoint -q "$T/probe" && break; kill -0 $ppid 2>/dev/null || break; sleep 0.1; done
if mountpoint -q "$T/probe"; then
	layouts+=(index)
	fusermount3 -u "$T/probe"
else
	skip "layout=index: this build refuses the option ($(head -1 "$T/probe.log")); only layout=names is tested"
fi
wait $ppid 2>/dev/null

# --- mount a group, run the oracle over it, unmount it
n=0
declare -a G_MNT G_PID G_LABEL
: >"$T/batch"
run_group() {
	[ ${#G_MNT[@]} -eq 0 ] && return
	if [ -s "$T/batch" ]; then
		$PY tests/oracle.py --batch "$T/batch" >"$T/oracle.out" 2>&1
		local rc=$?
		cat "$T/oracle.out"
		failures=$((failures + $(grep -c '^FAIL ' "$T/oracle.out")))
		if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$T/oracle.out"; then
			fail "tests/oracle.py --batch exited with status $rc without a FAIL line"
		fi
	fi
	local i status
	for i in "${!G_MNT[@]}"; do
		# Every layout=index mount must also satisfy the strict viewer.
		if [[ ${G_LABEL[$i]} == index\ * ]]; then
			if $PY tests/strict_check.py "${G_MNT[$i]}" "${G_LABEL[$i]}" >"$T/strict.out" 2>&1; then
				ok "${G_LABEL[$i]}: strict checker: 0 problems"
			else
				grep '^FAIL ' "$T/strict.out" | head -5
				fail "${G_LABEL[$i]}: strict checker: $(tail -1 "$T/strict.out")"
			fi
		fi
		mountpoint -q "${G_MNT[$i]}" && fusermount3 -u "${G_MNT[$i]}"
		MOUNT_PID=${G_PID[$i]}
		wait_daemon; status=$?
		[ $status -eq 0 ] || fail "${G_LABEL[$i]}: the daemon exited with status $status after the unmount"
	done
	G_MNT=() G_PID=() G_LABEL=() PIDS=()
	: >"$T/batch"
}

refusal() { # refusal LABEL WANT H5AD OPTS: the mount must fail with one line holding WANT
	local label=$1 want=$2 h5ad=$3 opts=$4 out status
	mkdir -p "$T/refused"
	if [ "$opts" = - ]; then out=$("$BIN" "$h5ad" "$T/refused" -f 2>&1); status=$?
	else out=$("$BIN" "$h5ad" "$T/refused" -f -o "$opts" 2>&1); status=$?; fi
	if mountpoint -q "$T/refused"; then fusermount3 -u "$T/refused"; fi
	if [ $status -ne 0 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && grep -qiF -- "$want" <<<"$out"; then
		ok "$label: refused with one line: $out"
	else
		fail "$label: expected a one-line refusal holding '$want'; status $status, output: $(head -3 <<<"$out" | tr '\n' '|')"
	fi
}

for layout in "${layouts[@]}"; do
	while IFS=$'\t' read -r label h5ad opts warns refuse compare; do
		if [ "$refuse" != - ] && [ "$refuse" != "?" ]; then
			refusal "$label" "$refuse" "$h5ad" "$opts"
			continue
		fi
		n=$((n + 1))
		mnt=$T/mnt/$n
		mkdir -p "$mnt"
		log=$T/log.$n
		if [ "$opts" = - ]; then "$BIN" "$h5ad" "$mnt" -f >"$log" 2>&1 &
		else "$BIN" "$h5ad" "$mnt" -f -o "$opts" >"$log" 2>&1 & fi
		pid=$!
		for _ in $(seq 1 300); do mountpoint -q "$mnt" && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
		if ! mountpoint -q "$mnt"; then
			wait $pid 2>/dev/null
			if [ "$refuse" = "?" ] && [ "$(wc -l <"$log")" -eq 1 ]; then
				ok "$label: refused with one line: $(cat "$log")"
			else
				fail "$label: mount failed (options ${opts}): $(head -3 "$log" | tr '\n' '|')"
			fi
			continue
		fi
		G_MNT+=("$mnt") G_PID+=("$pid") G_LABEL+=("$label") PIDS+=("$pid")
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$mnt" "$h5ad" "$opts" "$log" "$warns" >>"$T/batch"
		if [ "$compare" != - ]; then
			$PY tests/compare.py "$mnt" "$REFERENCE/${compare#*=}" "$label: reference ${compare%%=*}" >"$T/compare.out" 2>&1
			cat "$T/compare.out"
			failures=$((failures + $(grep -c '^FAIL ' "$T/compare.out")))
		fi
		[ ${#G_MNT[@]} -ge "$GROUP" ] && run_group
	done < <($PY tests/compat_plan.py "$FIXTURES" "$T/cases" "$layout")
	run_group
done

# --- the oracle must be able to fail: told other options, or another file, than mounted
neg() { # neg WHAT H5AD_TOLD ORACLE_OPTIONS: the oracle must fail on $T/neg
	local what=$1 told=$2 opts=$3
	if $PY tests/oracle.py "$T/neg" "$told" ${opts:+-o "$opts"} >"$T/neg.out" 2>&1; then
		fail "the oracle passes $what"
	else
		ok "the oracle fails $what ($(grep -c '^FAIL ' "$T/neg.out") FAIL lines, e.g. $(grep -m1 '^FAIL ' "$T/neg.out" | cut -c1-120))"
	fi
}
if mount_fs "$T/cases/missing_codes.h5ad" "$T/neg" -o compression=1,var_quantization=16; then
	PIDS+=("$MOUNT_PID")
	neg "a mount made with other options than told" "$T/cases/missing_codes.h5ad" ""
	neg "a mount whose latent space differs from the one told" "$T/cases/missing_codes.h5ad" \
		"compression=1,var_quantization=16,latent=X_umap"
	neg "a mount of another file" "$T/cases/nullable_int.h5ad" "compression=1,var_quantization=16"
	check "the oracle passes that mount when told its options" \
		$PY tests/oracle.py "$T/neg" "$T/cases/missing_codes.h5ad" -o compression=1,var_quantization=16
	unmount_fs "$T/neg"
else
	fail "mount missing_codes.h5ad for the oracle's negative controls"
fi

echo "compat.sh: $n mounts in $((SECONDS - start)) s"
finish
