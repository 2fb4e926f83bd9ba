#!/usr/bin/env bash
# tests/browser.sh - open the preview page (scripts/preview/) in headless Chromium against an
# export served by nginx, and check what the page itself reports and what it draws.
#
#   bash tests/browser.sh ROOT [PORT]
#
# ROOT is the directory to serve as the site root: a cellucidfs mountpoint (mounted by the
# caller, with allow_other) or a copy of an export; this script mounts nothing. It runs its own
# nginx on 127.0.0.1:PORT (default 18090) from a temporary prefix, workers as www-data (or
# nobody) when run as root, with the preview at /_preview/ as `make demo` serves it, and stops
# it on exit. Then one headless Chromium, driven over the DevTools protocol by tests/browser.py,
# opens /_preview/?data=/ at 1200x900 and waits for the page's own signal
# (window.cellucidChecks.done; at most BROWSER_TIMEOUT seconds, default 300: the first reads
# of a cold mount can be slow, which is why a fixed --virtual-time-budget is not used). Checks:
#   - the page finished its self-checks and its title ends in "checks done";
#   - no uncaught exception;
#   - <pre id="checks"> ends in "checks: N passed, 0 failed", N agrees with
#     window.cellucidChecks and is at least the number of files the manifests imply
#     (identity, manifests, embeddings, obs files, up to 50 genes);
#   - the screenshot is a 1200x900 PNG that is not blank (many colours, no colour covering
#     nearly all of it, enough saturated pixels for coloured cells). BROWSER_SCREENSHOT=FILE
#     keeps a copy to look at.
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

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
	echo "usage: bash tests/browser.sh ROOT [PORT]   (ROOT: a mounted export tree)" >&2
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
run_nginx() { nginx -p "$PREFIX/" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" "$@"; }

CHROME_PID=
cleanup() {
	local pid
	[ -n "$CHROME_PID" ] && kill "$CHROME_PID" 2>/dev/null
	if pid=$(cat "$PREFIX/nginx.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
		run_nginx -s quit 2>/dev/null || kill -QUIT "$pid"
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
	fi
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

# One headless Chromium in a fresh profile, driven over --remote-debugging-pipe by
# tests/browser.py (its fd 3 reads commands from one FIFO, fd 4 writes replies to the other).
OUT=$PREFIX/out
mkdir -p "$OUT" "$PREFIX/profile"
mkfifo "$PREFIX/cdp.cmd" "$PREFIX/cdp.reply"
timeout $((TIMEOUT + 60)) "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
	--no-first-run --disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --window-size=1200,900 --user-data-dir="$PREFIX/profile" \
	--remote-debugging-pipe 3<"$PREFIX/cdp.cmd" 4>"$PREFIX/cdp.reply" 2>"$PREFIX/chromium.log" &
CHROME_PID=$!
if ! "$PY" "$ROOT/tests/browser.py" drive "$PREFIX/cdp.cmd" "$PREFIX/cdp.reply" "$URL" "$OUT" "$TIMEOUT" \
	2>"$PREFIX/driver.log"; then
	fail "browser: driving Chromium failed: $(tail -n 1 "$PREFIX/driver.log") $(grep -v dbus "$PREFIX/chromium.log" | tail -n 2 | tr '\n' ' ')"
	exit 1
fi
wait "$CHROME_PID" 2>/dev/null
[ -n "${BROWSER_SCREENSHOT:-}" ] && cp "$OUT/screenshot.png" "$BROWSER_SCREENSHOT"   # to look at it

# report KEY: one value of the page's report (window.cellucidChecks, title, seconds).
report() { "$PY" -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(str(v).lower() if isinstance(v, bool) else v)' "$OUT/report.json" "$1"; }

title=$(report title)
if [ "$(report "done")" != true ]; then
	fail "browser: the page did not finish its self-checks within $TIMEOUT s ($(report passed) passed so far)"
elif [[ $title != *"(checks done)" ]]; then
	fail "browser: the page finished its self-checks but its title is '$title'"
else
	ok "browser: the page finished its self-checks in $(report seconds) s"
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
finish
