#!/usr/bin/env bash
# tests/browser.sh - open the preview page (scripts/preview/) in headless Chromium against an
# export served by nginx, and check what the page itself reports and what it draws.
#
#   bash tests/browser.sh ROOT [PORT] [--strict-cases]
#
# ROOT is the directory to serve as the site root: a cellucidfs mountpoint (mounted by the
# caller, with allow_other) or a copy of an export; this script mounts nothing. It runs its own
# nginx on 127.0.0.1:PORT (default 18090) from a temporary prefix, workers as www-data (or
# nobody) when run as root, with the preview at /_preview/ as `make demo` serves it, and stops
# it on exit. Then one headless Chromium, driven over the DevTools protocol by tests/browser.py,
# opens /_preview/?data=/ at 1200x900 and waits for the page's own signal
# (window.cellucidChecks.done; at most BROWSER_TIMEOUT seconds, default 300: the first reads
# of a cold mount can be slow, which is why a fixed --virtual-time-budget is not used). Checks:
#   - the page finished its self-checks and its title ends in "checks done", naming the
#     dialect whose rules it applied (strict for layout=index, names for the 0.9 layout);
#   - no uncaught exception;
#   - <pre id="checks"> ends in "checks: N passed, 0 failed", N agrees with
#     window.cellucidChecks and is at least the number of files the manifests imply
#     (identity, manifests, embeddings, obs files, up to 50 genes);
#   - the screenshot is a 1200x900 PNG that is not blank (many colours, no colour covering
#     nearly all of it, enough saturated pixels for coloured cells). BROWSER_SCREENSHOT=FILE
#     keeps a copy to look at.
# With --strict-cases, the page must also hold a tree to the strict dialect's rules: a
# layout=index export of pbmc68k_reduced (cellucidfs export), served by a second nginx on
# PORT+1 and opened cross-origin, passes in the strict dialect; copies of it with one extra
# JSON key in obs_manifest.json, or with an obs payload one byte short (gzip'd again, so only
# the length is wrong), each make the page report that failure, naming the file.
#
#   $ cp -r ../shared/reference/pbmc68k_reduced-c6-q8 /tmp/ref && chmod -R a+rX /tmp/ref
#   $ bash tests/browser.sh /tmp/ref
#   ok browser: nginx serves the preview on 127.0.0.1:18090 (workers as www-data)
#   ok browser: the page finished its self-checks in 0.6 s
#   ok browser: no uncaught exception in the page
#   ok browser: self-checks: 65 passed, 0 failed (at least 65 files expected)
#   ok browser: screenshot 1200x900, 1618 colours, 1.7% saturated pixels
set -u
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRICT_CASES=0
[ "${*: -1}" = --strict-cases ] && { STRICT_CASES=1; set -- "${@:1:$#-1}"; }
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
	echo "usage: bash tests/browser.sh ROOT [PORT] [--strict-cases]   (ROOT: a mounted export tree)" >&2
	exit 2
fi
SERVE=$(cd "$1" && pwd)
PORT=${2:-18090}
TIMEOUT=${BROWSER_TIMEOUT:-300}
GENE_SAMPLE=50   # as GENE_SAMPLE in scripts/preview/preview.js

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
	skip "browser: chromium is not installed (apt-get install chromium)"
	exit 0
fi
if ! command -v nginx >/dev/null || ! command -v curl >/dev/null; then
	skip "browser: nginx or curl is not installed (make deps)"
	exit 0
fi
if [ ! -f "$SERVE/dataset_identity.json" ]; then
	fail "browser: $SERVE has no dataset_identity.json"
	exit 1
fi

PREFIX=$(mktemp -d)
chmod 755 "$PREFIX"
mkdir -p "$PREFIX/tmp"
# run_nginx [-P DIR] ARGS...: nginx with the prefix PREFIX (or DIR: the strict cases' server).
run_nginx() {
	local p=$PREFIX
	[ "${1:-}" = -P ] && { p=$2; shift 2; }
	nginx -p "$p/" -c "$p/nginx.conf" -e "$p/error.log" "$@"
}

cleanup() {
	local pid p
	for p in "$PREFIX/strict/nginx" "$PREFIX"; do
		pid=$(cat "$p/nginx.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null || continue
		run_nginx -P "$p" -s quit 2>/dev/null || kill -QUIT "$pid"
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
	done
	rm -rf "$PREFIX"
}
trap cleanup EXIT

# --- nginx ------------------------------------------------------------------------

# nginx workers run as www-data (or nobody) when we are root, else as ourselves.
WORKER=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	WORKER=nobody
	id -u www-data >/dev/null 2>&1 && WORKER=www-data
fi
# as_worker CMD...: run CMD as the worker user.
as_worker() {
	if [ "$(id -u)" -ne 0 ]; then "$@"; return; fi
	setpriv --reuid="$WORKER" --regid="$(id -g "$WORKER")" --clear-groups "$@"
}

if ! as_worker test -r "$SERVE/dataset_identity.json"; then
	fail "browser: user $WORKER cannot read $SERVE (mounted without allow_other, or a parent directory lacks o+x)"
	exit 1
fi
# The shipped server block, as `make demo` serves it (the preview included).
bash "$ROOT/scripts/demo.sh" conf "$SERVE" "$PORT" "$PREFIX" >"$PREFIX/nginx.conf"

if ! { run_nginx -q -t && run_nginx; } 2>"$PREFIX/start.log"; then
	fail "browser: nginx does not start on port $PORT: $(tr '\n' ' ' <"$PREFIX/start.log")"
	exit 1
fi
URL="http://127.0.0.1:$PORT/_preview/?data=/"
if ! curl -sf -o /dev/null --retry 20 --retry-connrefused --retry-delay 0 "$URL"; then
	fail "browser: $URL is not served: $(tail -n 3 "$PREFIX/error.log" | tr '\n' ' ')"
	exit 1
fi
ok "browser: nginx serves the preview on 127.0.0.1:$PORT (workers as $WORKER)"

# --- chromium -----------------------------------------------------------------------

# open_page URL NAME: one headless Chromium opens URL, driven by tests/browser.py drive
# (lib.sh: chromium_drive); what the page reported goes to $PREFIX/NAME (OUT). Returns 1,
# after a FAIL line, when driving it failed.
open_page() {
	OUT=$PREFIX/$2
	if ! chromium_drive "$OUT" "$TIMEOUT" drive "$1" "$OUT" "$TIMEOUT"; then
		fail "browser: driving Chromium failed ($2): $(tail -n 1 "$OUT/driver.log") $(grep -v dbus "$OUT/chromium.log" | tail -n 2 | tr '\n' ' ')"
		return 1
	fi
}
open_page "$URL" out || exit 1
[ -n "${BROWSER_SCREENSHOT:-}" ] && cp "$OUT/screenshot.png" "$BROWSER_SCREENSHOT"   # to look at it

# report KEY: one value of the page's report (window.cellucidChecks, title, seconds).
report() { "$PY" -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(str(v).lower() if isinstance(v, bool) else v)' "$OUT/report.json" "$1"; }

title=$(report title)
if [ "$(report "done")" != true ]; then
	fail "browser: the page did not finish its self-checks within $TIMEOUT s ($(report passed) passed so far)"
elif [[ $title != *"(checks done)" ]]; then
	fail "browser: the page finished its self-checks but its title is '$title'"
else
	ok "browser: the page finished its self-checks in $(report seconds) s ($(report dialect) dialect)"
fi

if [ -s "$OUT/exceptions.txt" ]; then
	fail "browser: the page threw: $(head -n 3 "$OUT/exceptions.txt" | tr '\n' ' ')"
else
	ok "browser: no uncaught exception in the page"
fi

want=$("$PY" "$ROOT/tests/browser.py" expected-checks "$SERVE" "$GENE_SAMPLE")
passed=$(report passed) failed=$(report failed)
summary=$(grep -v '^$' "$OUT/checks.txt" | tail -n 1)
if [ "$summary" != "checks: $passed passed, $failed failed" ]; then
	fail "browser: <pre id=\"checks\"> ends in '$summary', window.cellucidChecks says $passed passed, $failed failed"
elif [ "$failed" -eq 0 ] && [ "$passed" -ge "$want" ]; then
	ok "browser: self-checks: $passed passed, 0 failed (at least $want files expected)"
else
	fail "browser: self-checks: $passed passed, $failed failed (at least $want files expected): $(grep '^FAIL' "$OUT/checks.txt" | head -n 3 | tr '\n' ' ')"
fi

# Not blank: 1200x900, many colours, no colour covering nearly all of it, and enough
# saturated pixels (max - min channel > 60) for coloured cells.
if ! stats=$("$PY" "$ROOT/tests/browser.py" png-stats "$OUT/screenshot.png" 2>&1); then
	fail "browser: screenshot: $stats"
else
	read -r w h colours common saturated <<<"$stats"
	if [ "$w$h" = 1200900 ] && [ "$colours" -ge 16 ] && [ "$common" -le 92 ] &&
		awk -v s="$saturated" 'BEGIN { exit !(s >= 0.5) }'; then
		ok "browser: screenshot ${w}x$h, $colours colours, $saturated% saturated pixels"
	else
		fail "browser: screenshot looks blank: ${w}x$h, $colours colours, commonest $common%, $saturated% saturated"
	fi
fi

# --- the strict dialect: a layout=index tree passes, a broken copy fails -----------------

if [ "$STRICT_CASES" = 1 ]; then
	S=$PREFIX/strict
	mkdir -p "$S/nginx/tmp"
	if ! "$BIN" export "$FIXTURES/pbmc68k_reduced.h5ad" "$S/good" -o layout=index,cache_dir=none \
		>"$S/export.log" 2>&1 </dev/null; then
		fail "browser: strict cases: cellucidfs export -o layout=index: $(tail -n 1 "$S/export.log")"
		finish
		exit
	fi
	cp -r "$S/good" "$S/extra-key"
	cp -r "$S/good" "$S/short"
	# The first obs payload, one decoded byte short: a valid gzip file of the wrong length.
	short=$(cd "$S/short" && find obs -type f | sort | head -n 1)
	"$PY" - "$S" "$short" <<-'EOF'
	import gzip, json, sys
	root, short = sys.argv[1], sys.argv[2]
	path = f"{root}/extra-key/obs_manifest.json"
	doc = json.load(open(path))
	doc["extra"] = 1
	json.dump(doc, open(path, "w"))
	path = f"{root}/short/{short}"
	data = gzip.decompress(open(path, "rb").read())
	open(path, "wb").write(gzip.compress(data[:-1]))
	EOF
	chmod -R a+rX "$S"
	DATA_PORT=$((PORT + 1))
	bash "$ROOT/scripts/demo.sh" conf "$S" "$DATA_PORT" "$S/nginx" >"$S/nginx/nginx.conf"
	if ! { run_nginx -P "$S/nginx" -q -t && run_nginx -P "$S/nginx"; } 2>"$S/nginx/start.log"; then
		fail "browser: strict cases: nginx does not start on port $DATA_PORT: $(tr '\n' ' ' <"$S/nginx/start.log")"
		finish
		exit
	fi
	# strict_case NAME WHAT EXPECTED...: the page on $S/NAME, opened cross-origin; with no
	# EXPECTED, no check may fail, else some failure must name each EXPECTED text.
	strict_case() {
		local name=$1 what=$2 want failures
		shift 2
		open_page "http://127.0.0.1:$PORT/_preview/?data=http://127.0.0.1:$DATA_PORT/$name/" "$name" || return
		failures=$("$PY" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["failures"]))' "$OUT/report.json")
		if [ "$(report "done")" != true ] || [ "$(report dialect)" != strict ]; then
			fail "browser: $what: the page did not finish in the strict dialect (done $(report "done"), dialect $(report dialect))"
		elif [ $# -eq 0 ]; then
			if [ "$(report failed)" -eq 0 ] && [ -z "$failures" ]; then ok "browser: $what ($(report passed) checks passed)"
			else fail "browser: $what: $(head -n 3 <<<"$failures" | tr '\n' ' ')"; fi
		else
			for want in "$@"; do
				grep -qF -- "$want" <<<"$failures" ||
					{ fail "browser: $what: no failure names '$want' (failures: $(head -n 3 <<<"$failures" | tr '\n' ' '))"; return; }
			done
			ok "browser: $what: $(head -n 1 <<<"$failures")"
		fi
	}
	strict_case good "a layout=index export passes in the strict dialect"
	strict_case extra-key "an extra key in obs_manifest.json fails" obs_manifest.json 'unsupported field "extra"'
	strict_case short "an obs payload one byte short fails" "$short" "expected"
fi
finish
