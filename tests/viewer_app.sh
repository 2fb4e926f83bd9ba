#!/usr/bin/env bash
# tests/viewer_app.sh - the issue-13 test: a default mount of pbmc68k_reduced, served by the
# shipped nginx block (scripts/demo.sh conf, the web app from a local checkout), loads in the
# real Cellucid web app in headless Chromium, in the three ways a user opens it:
#   same-origin  http://A/                                     (the app finds the data itself)
#   remote       http://B/?remote=http://A/                    (cross-origin, CORS)
#   directory    http://A/?remote=http://B/&dataset=pbmc68k_reduced (a directory source)
# A serves the single-file mount, B a directory of two .h5ad files; both serve the app at /.
# Each way must: reach the app's loaded state (the READY expression: the app's state object
# window._cellucidState exists and its #stats element shows the cell count, both set up by
# assets/js/app/main.js; CELLUCID_APP_READY replaces it), log no console error, uncaught
# exception or failed load from this machine (loads of other hosts, which fail offline, are
# counted and ignored), and fetch dataset_identity.json, obs_manifest.json,
# var_manifest.json and the points file with 200 (and any obs/ or var/ file it asks for
# with 200).
#
# The app: CELLUCID_APP_DIR (a checkout of theislab/cellucid), else a shallow git clone of
# https://github.com/theislab/cellucid when github.com answers within 5 s (CELLUCID_APP_CLONE=no
# never tries). No copy of the app is kept in this repository. With neither, the real-app
# part is skipped with one line saying so. Before that, the harness itself is run on a
# stand-in (tests/app_standin.js, a few lines of our own that load a dataset as the app
# does), every way, and must pass; and on a broken stand-in, which must make it fail.
#
#   $ CELLUCID_APP_DIR=~/src/cellucid bash tests/viewer_app.sh
#   ok viewer_app: the harness passes the stand-in app, same-origin (ready in 1.2 s, ...)
#   ...
#   ok viewer_app: the Cellucid app (~/src/cellucid, 1a2b3c4) loads the mount, remote (...)
set -u
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { skip "viewer_app: chromium is not installed (apt-get install chromium)"; exit 0; }
for c in nginx curl; do
	command -v "$c" >/dev/null || { skip "viewer_app: $c is not installed (make deps)"; exit 0; }
done
need_allow_other viewer_app
mount_test_setup "the Cellucid web app on a default mount"
chmod 755 "$T"
TIMEOUT=${BROWSER_TIMEOUT:-120}

cleanup() { stop_nginx a; stop_nginx b; unmount_and_remove_temp; }
trap cleanup EXIT

free_ports 18170 18199 2 || { fail "viewer_app: no 2 free ports in 18170-18199"; exit 1; }
A=${ports[0]} B=${ports[1]}

mkdir -p "$T/src"
cp "$FIXTURES/pbmc68k_reduced.h5ad" "$FIXTURES/pbmc68k_reduced_legacy.h5ad" "$T/src/"
if ! mount_fs "$FIXTURES/pbmc68k_reduced.h5ad" "$T/mnt1" -o allow_other,default_permissions ||
	! mount_fs "$T/src" "$T/mnt2" -o allow_other,default_permissions; then
	fail "viewer_app: mount pbmc68k_reduced.h5ad and a directory source with default options"
	exit 1
fi
N_CELLS=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["stats"]["n_cells"])' \
	"$T/mnt1/dataset_identity.json") || { fail "viewer_app: read the mount's identity"; exit 1; }
# The stand-in's loaded state is always this one; the real app's can be replaced.
READY="!!window._cellucidState && ((document.getElementById('stats') || {}).textContent || '').includes('$N_CELLS')"

# serve APP_DIR: (re)start A and B, the shipped block in local-checkout mode with APP_DIR at /.
serve() {
	local name mnt port
	for name in a b; do
		stop_nginx "$name"
		[ "$name" = a ] && { mnt=$T/mnt1 port=$A; } || { mnt=$T/mnt2 port=$B; }
		mkdir -p "$T/$name/tmp"
		if ! CELLUCID_APP_DIR=$1 bash "$ROOT/scripts/demo.sh" conf "$mnt" "$port" "$T/$name" \
			>"$T/$name/nginx.conf" || ! { nginx_in "$name" -q -t && nginx_in "$name"; } 2>"$T/$name/start.log"; then
			fail "viewer_app: nginx $name with the app from $1: $(tr '\n' ' ' <"$T/$name/start.log" 2>/dev/null)"
			return 1
		fi
	done
	curl -sf -o /dev/null --retry 20 --retry-connrefused --retry-delay 0 "http://127.0.0.1:$A/" &&
		curl -sf -o /dev/null --retry 20 --retry-connrefused --retry-delay 0 "http://127.0.0.1:$B/" ||
		{ fail "viewer_app: the app is not served at / from $1"; return 1; }
}

# load WHAT URL DATA_BASE: open URL, then print what the page did against the data under
# DATA_BASE (an absolute URL ending in /) as ok/FAIL lines; returns 1 when any check failed.
load() {
	local what=$1 url=$2 base=$3 out=$T/page.$RANDOM
	if ! chromium_drive "$out" "$TIMEOUT" app "$url" "$out" "$TIMEOUT" "$READY"; then
		echo "FAIL $what: driving Chromium failed: $(tail -n 1 "$out/driver.log")"
		return 1
	fi
	"$PY" - "$out/app.json" "$base" "$what" "$url" <<'PYEOF'
import json, sys
report, base, what, url = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
data = {u[len(base):]: s for u, s in report["responses"] if u.startswith(base)}
# Offline, the app's loads of other hosts (analytics, fonts) fail: not the mount's doing.
local = "http://127.0.0.1:"
elsewhere = [e for e in report["errors"] if e.startswith("log (network)") and local not in e]
failed_elsewhere = [f for f in report["failed"] if not f[0].startswith(local)]
problems = []
if not report["ready"]:
    problems.append(f"not loaded after {report['seconds']} s")
problems += [f"error: {e}" for e in report["errors"] if e not in elsewhere][:3]
problems += [f"no response for {u} ({why})" for u, why in report["failed"] if u.startswith(local)][:3]
for need in ("dataset_identity.json", "obs_manifest.json", "var_manifest.json"):
    if data.get(need) != 200:
        problems.append(f"{need}: {data.get(need, 'not fetched')}")
points = [p for p in data if p.startswith("points_")]
if not points or any(data[p] != 200 for p in points):
    problems.append(f"points: {[(p, data[p]) for p in points] or 'not fetched'}")
payloads = [p for p in data if p.startswith(("obs/", "var/"))]
bad = [(p, data[p]) for p in payloads if data[p] != 200]
problems += [f"{p}: {s}" for p, s in bad[:3]]
tally = f"ready in {report['seconds']} s, {len(data)} data files with 200, " \
        f"{len(payloads)} of them obs/var payloads" + \
        (f"; {len(failed_elsewhere)} loads of other hosts failed offline, ignored" if failed_elsewhere else "")
print(f"FAIL {what}: {'; '.join(problems)} [{url}]" if problems else f"ok {what} ({tally})")
sys.exit(1 if problems else 0)
PYEOF
}

# ways LABEL: the three ways, each a check; FAIL lines count.
ways() {
	local r=0
	load "$1, same-origin" "http://127.0.0.1:$A/" "http://127.0.0.1:$A/" || r=1
	load "$1, remote" "http://127.0.0.1:$B/?remote=http://127.0.0.1:$A/" "http://127.0.0.1:$A/" || r=1
	load "$1, directory source" "http://127.0.0.1:$A/?remote=http://127.0.0.1:$B/&dataset=pbmc68k_reduced" \
		"http://127.0.0.1:$B/pbmc68k_reduced/" || r=1
	return $r
}

# --- the harness on the stand-in: it must pass, and fail a broken page ----------------------

mkdir -p "$T/standin/assets/js/app"
cp "$ROOT/tests/app_standin.js" "$T/standin/assets/js/app/main.js"
printf '%s\n' '<!doctype html><meta charset="utf-8"><title>stand-in</title>' \
	'<link rel="icon" href="data:,"><canvas id="glcanvas"></canvas><div id="stats"></div>' \
	'<script type="module" src="assets/js/app/main.js"></script>' >"$T/standin/index.html"
chmod -R a+rX "$T/standin"
serve "$T/standin" || exit 1
out=$(ways "viewer_app: the harness passes the stand-in app")
echo "$out"
failures=$((failures + $(grep -c '^FAIL ' <<<"$out")))
if out=$(load "broken" "http://127.0.0.1:$A/?standin=broken" "http://127.0.0.1:$A/"); then
	fail "viewer_app: the harness passes a stand-in that logs a console error and fetches a missing file"
else
	check "viewer_app: the harness fails a stand-in that logs a console error and fetches a missing file" \
		grep -q "error: console.error: \[standin\].*no_such_manifest.json" <<<"$out"
fi

# --- the real app -------------------------------------------------------------------------

APP=${CELLUCID_APP_DIR:-}
if [ -z "$APP" ] && [ "${CELLUCID_APP_CLONE:-yes}" != no ] && command -v git >/dev/null &&
	GIT_TERMINAL_PROMPT=0 timeout 5 git ls-remote -q https://github.com/theislab/cellucid HEAD >/dev/null 2>&1; then
	GIT_TERMINAL_PROMPT=0 timeout 300 git clone -q --depth 1 https://github.com/theislab/cellucid "$T/cellucid" \
		2>"$T/clone.log" && APP=$T/cellucid
	[ -n "$APP" ] || { fail "viewer_app: git clone theislab/cellucid: $(tail -n 1 "$T/clone.log")"; exit 1; }
	chmod -R a+rX "$T/cellucid"
fi
if [ -z "$APP" ]; then
	skip "viewer_app: the real Cellucid app: none here (set CELLUCID_APP_DIR to a checkout of theislab/cellucid; github.com did not answer within 5 s to clone it)"
	finish
	exit
fi
[ -f "$APP/index.html" ] || { fail "viewer_app: $APP has no index.html (not a checkout of theislab/cellucid)"; exit 1; }
APP=$(cd "$APP" && pwd)
as_worker_reads() { [ "$(id -u)" -ne 0 ] || setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups test -r "$1"; }
as_worker_reads "$APP/index.html" || { fail "viewer_app: nginx's workers cannot read $APP/index.html"; exit 1; }
rev=$(git -C "$APP" rev-parse --short HEAD 2>/dev/null || echo "no git")
serve "$APP" || exit 1
READY=${CELLUCID_APP_READY:-$READY}
out=$(ways "viewer_app: the Cellucid app ($APP, $rev) loads the default mount")
echo "$out"
failures=$((failures + $(grep -c '^FAIL ' <<<"$out")))
finish
