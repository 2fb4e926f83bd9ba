#!/usr/bin/env bash
# tests/hostile.sh - the hostile corpus (tests/hostile_gen.py: damaged copies
# of a generated file and of a fixture, files cut short, constructs written
# to hurt, the fuzzer's finds) replayed against check and a mount. For each
# file the daemon must survive: check ends with a message (status 0 or 1, no
# signal, within HANG s); if check opens it, a mount comes up, every file
# reads or fails with EIO within HANG s, the mount is still up after, and
# unmount exits 0; if not, the mount is refused with one line. For each file
# libhdf5 itself crashes on (the "libhdf5" set, until the reader process
# contains it): check ends, by a signal or not, without hanging; the "hang"
# set (libhdf5 spins for ever) is listed as skipped. For each file of the
# "claim" set (a shape the file cannot hold), check must also end within
# CLAIM s with one line naming the element as refused. With the
# sanitizer build (make asan), check also runs under ASan/UBSan on each file
# the daemon must survive, and must end without a report (the leaks libhdf5
# makes on its own error paths aside: tests/lsan-libhdf5.supp).
#
#   $ bash tests/hostile.sh
#   ok hostile base.h5ad: check status 0 (ASan too), 28 files read, 0 EIO, unmount 0
#   ok hostile flip_06.h5ad (libhdf5 set): check ends (status 139)
#   ...
source "$(dirname "$0")/lib.sh"

HANG=${HOSTILE_HANG:-30}
CLAIM=5
ASAN_BIN=$ROOT/build/asan/cellucidfs
if ! have_fuse; then skip "hostile corpus: no /dev/fuse or fusermount3"; exit 0; fi
if ! "$PY" -c 'import h5py' 2>/dev/null; then skip "hostile corpus: python3-h5py is not installed"; exit 0; fi
T=$(mktemp -d)
export XDG_CACHE_HOME=$T/cache
trap unmount_and_remove_temp EXIT
fixtures=()
[ -d "$FIXTURES" ] && fixtures=("$FIXTURES")
"$PY" tests/hostile_gen.py "$T/h" "${fixtures[@]}" >/dev/null || { fail "tests/hostile_gen.py"; exit 1; }

# read_all MNT: every file read within HANG s, or failed with EIO; prints
# "READ EIO", or a line naming what went wrong and returns 1.
read_all() {
	local list p n_ok=0 n_eio=0 err
	if ! list=$(timeout "$HANG" find "$1" -type f 2>&1); then
		echo "listing the tree failed or hung: $(tail -1 <<<"$list")"; return 1
	fi
	while IFS= read -r p; do
		[ -n "$p" ] || continue
		if err=$(timeout "$HANG" cat "$p" 2>&1 >/dev/null); then
			n_ok=$((n_ok + 1))
		elif grep -q 'Input/output error' <<<"$err"; then
			n_eio=$((n_eio + 1))
		else
			echo "${p#"$1"/}: ${err:-no answer within $HANG s}"; return 1
		fi
	done <<<"$list"
	echo "$n_ok $n_eio"
}

# sanitized_check FILE: check under ASan/UBSan ends without a report.
sanitized_check() {
	local out status
	out=$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		LSAN_OPTIONS=suppressions=$ROOT/tests/lsan-libhdf5.supp \
		timeout $((3 * HANG)) "$ASAN_BIN" check "$1" 2>&1); status=$?
	[ $status -le 1 ] && return 0
	fail "hostile ${1##*/}: check under ASan/UBSan: status $status: $(grep -m1 -E 'ERROR|runtime error' <<<"$out")"
	grep -m4 -E '^ *#[0-9] ' <<<"$out" | sed 's/^/    /'
	return 1
}

# daemon_survives NAME: the whole round for one file.
daemon_survives() {
	local f=$T/h/$1 mnt=$T/mnt out status read rc asan=
	[ -x "$ASAN_BIN" ] && asan=" (ASan too)"
	out=$(timeout "$HANG" "$BIN" check "$f" 2>&1); status=$?
	if [ $status -gt 1 ]; then
		fail "hostile $1: check status $status (a signal or a hang): $(tail -1 <<<"$out")"; return
	fi
	if [ -z "$out" ]; then fail "hostile $1: check said nothing"; return; fi
	if [ -x "$ASAN_BIN" ] && ! sanitized_check "$f"; then return; fi
	if grep -q "^cellucidfs: cannot open $f: " <<<"$out"; then
		out=$(timeout "$HANG" "$BIN" "$f" "$mnt" -f 2>&1); rc=$?
		if [ $rc -eq 1 ] && [ "$(wc -l <<<"$out")" -eq 1 ]; then
			ok "hostile $1: check and the mount refuse it: ${out#*"$f: "}"
		else
			fail "hostile $1: check refuses it, the mount gives status $rc: $(head -3 <<<"$out")"
			mountpoint -q "$mnt" && fusermount3 -u "$mnt"
		fi
		return
	fi
	if ! mount_fs "$f" "$mnt" 2>/dev/null; then
		fail "hostile $1: check opens it (status $status), the mount does not: $(tail -1 "$MOUNT_LOG")"
		wait_daemon; return
	fi
	if ! read=$(read_all "$mnt"); then
		fail "hostile $1: $read"
	elif ! mountpoint -q "$mnt" || ! kill -0 "$MOUNT_PID" 2>/dev/null; then
		fail "hostile $1: the mount went down while its files were read"
	fi
	unmount_fs "$mnt"; rc=$?
	if [ $rc -ne 0 ]; then
		fail "hostile $1: unmount: the daemon exited with status $rc: $(tail -1 "$MOUNT_LOG")"
	elif [[ $read =~ ^[0-9]+\ [0-9]+$ ]]; then
		ok "hostile $1: check status $status${asan}, ${read% *} files read, ${read#* } EIO, unmount 0"
	fi
	rm -f "$MOUNT_LOG"
}

# claim_refused NAME ELEMENT: check refuses ELEMENT, a claim the file
# cannot hold, in one line and within CLAIM s, before allocating it.
claim_refused() {
	local out status
	out=$(timeout "$CLAIM" "$BIN" check "$T/h/$1" 2>&1); status=$?
	if [ $status -gt 1 ]; then
		fail "hostile $1: check did not end within $CLAIM s (status $status)"
	elif ! grep -qE "(^|: )$2[^ ]*: claims .* of which the file holds .*: refused$" <<<"$out"; then
		fail "hostile $1: check has no line refusing $2's claim: $(grep -m1 "$2" <<<"$out")"
	else
		ok "hostile $1: check refuses $2's claim within $CLAIM s"
	fi
}

# check_ends NAME: a file libhdf5 crashes on: check ends, signal or not.
check_ends() {
	local status
	# (braces: the shell's own "Segmentation fault" line goes to /dev/null too)
	status=$({ timeout "$HANG" "$BIN" check "$T/h/$1" >/dev/null 2>&1; echo $?; } 2>/dev/null)
	if [ $status -eq 124 ]; then
		fail "hostile $1 (libhdf5 set): check did not end within $HANG s"
	elif [ $status -le 1 ]; then
		ok "hostile $1 (libhdf5 set): check ends (status $status): libhdf5 no longer crashes on it"
	else
		ok "hostile $1 (libhdf5 set): check ends (status $status)"
	fi
}

while IFS=$'\t' read -r name class about element; do
	case $class in
	daemon) daemon_survives "$name" ;;
	claim) claim_refused "$name" "$element"; daemon_survives "$name" ;;
	libhdf5) check_ends "$name" ;;
	hang) skip "hostile $name: libhdf5 spins on it for ever: not run until the reader process's watchdog cuts it" ;;
	*) fail "hostile $name: unknown class '$class' in corpus.tsv" ;;
	esac
done <"$T/h/corpus.tsv"
finish
