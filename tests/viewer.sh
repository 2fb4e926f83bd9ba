#!/usr/bin/env bash
# tests/viewer.sh - the Cellucid web app beside the data: scripts/nginx/cellucid.conf
# serving the app at / (a caching proxy of the hosted app, or a local checkout), the
# mount's files before the app's, the app from its cache once the site is gone, and the
# https port that https://www.cellucid.com/?remote= needs, preflights included.
#
#   bash tests/viewer.sh
#
# This machine has no internet, so www.cellucid.com is played by a stand-in: a second
# nginx on loopback, over TLS with its own self-signed certificate for www.cellucid.com,
# serving a fake index.html, assets/x.js and, as the real site does, a
# _cellucid/health of its own, plus a dataset_identity.json, which the mount's must
# shadow. The server under test is `scripts/demo.sh conf`'s configuration with
# CELLUCID_APP_UPSTREAM pointing at the stand-in and CELLUCID_APP_CA trusting its
# certificate; its https port uses the certificate `scripts/demo.sh cert` makes.
#   A: pbmc68k_reduced.h5ad, the hosted app through the proxy, http and https;
#   B: a directory of two .h5ad files (the directory source, ?dataset=ID), the app from
#      a local checkout (CELLUCID_APP_DIR), https.
# The stand-in answers X-Accel-Expires: 1 for assets/x.js, so that copy is stale a
# second later, and 600 for the rest. Takes about 10 s.
#
#   $ bash tests/viewer.sh
#   ok viewer: the app at / comes from the site through the proxy (X-Cache-Status MISS)
#   ...
#   ok viewer: offline, an expired copy is served from the cache (STALE)
#   ...
set -u
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for c in nginx curl openssl; do
	command -v "$c" >/dev/null || { skip "viewer: $c is not installed (make deps)"; exit 0; }
done
need_allow_other viewer
mount_test_setup "viewer beside the data"
chmod 755 "$T"

# --- nginx instances: the stand-in (site), A and B, each with its own prefix -----------

cleanup() {
	local n
	for n in site a b; do stop_nginx "$n"; done
	unmount_and_remove_temp
}
trap cleanup EXIT
start_nginx() { # start_nginx NAME: test and start $T/NAME/nginx.conf
	if ! { nginx_in "$1" -q -t && nginx_in "$1"; } 2>"$T/$1/start.log"; then
		fail "viewer: nginx $1 does not start: $(tr '\n' ' ' <"$T/$1/start.log")"
		exit 1
	fi
}

free_ports 18110 18160 5 || { fail "viewer: no 5 free ports in 18110-18160"; exit 1; }
SITE=${ports[0]} A=${ports[1]} A_TLS=${ports[2]} B=${ports[3]} B_TLS=${ports[4]}

# --- the sources and the two mounts ----------------------------------------------------

mkdir -p "$T/src"
cp "$FIXTURES/pbmc68k_reduced.h5ad" "$FIXTURES/pbmc68k_reduced_legacy.h5ad" "$T/src/"
if ! mount_fs "$FIXTURES/pbmc68k_reduced.h5ad" "$T/mnt1" -o allow_other,default_permissions,prefetch=none ||
	! mount_fs "$T/src" "$T/mnt2" -o allow_other,default_permissions,prefetch=none; then
	fail "viewer: mount pbmc68k_reduced.h5ad and a directory source with allow_other"
	exit 1
fi

# --- the stand-in for www.cellucid.com ----------------------------------------------------

MARK="cellucid stand-in $$"
mkdir -p "$T/site/www/assets" "$T/site/www/_cellucid" "$T/site/tmp"
printf '<!doctype html><title>%s</title><script type="module" src="assets/x.js"></script>\n' "$MARK" \
	>"$T/site/www/index.html"
echo "console.log('$MARK');" >"$T/site/www/assets/x.js"
echo '{"status":"static","type":"web","message":"Cellucid web viewer (no same-origin Python server)"}' \
	>"$T/site/www/_cellucid/health"
echo '{"from": "the stand-in"}' | tee "$T/site/www/dataset_identity.json" >"$T/site/www/only-on-site.json"
echo icon >"$T/site/www/favicon.ico"
chmod -R a+rX "$T/site"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=www.cellucid.com \
	-addext "subjectAltName=DNS:www.cellucid.com" -keyout "$T/site/key.pem" -out "$T/site/cert.pem" \
	2>"$T/site/openssl.log" || { fail "viewer: openssl: $(tail -n 1 "$T/site/openssl.log")"; exit 1; }
temp_paths() { local m; for m in client_body proxy fastcgi uwsgi scgi; do
	nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" || echo "${m}_temp_path \"$T/$1/tmp/$m\";"
done; }
cat >"$T/site/nginx.conf" <<EOF
$([ "$(id -u)" -eq 0 ] && echo "user nobody $(id -gn nobody);")
pid "$T/site/nginx.pid";
events { worker_connections 64; }
http {
	access_log "$T/site/access.log";
	$(temp_paths site)
	types { text/html html; application/javascript js; application/json json; image/x-icon ico; }
	server {
		listen 127.0.0.1:$SITE ssl;
		ssl_certificate "$T/site/cert.pem";
		ssl_certificate_key "$T/site/key.pem";
		root "$T/site/www";
		add_header X-Accel-Expires 600;
		location = /assets/x.js { add_header X-Accel-Expires 1; }
	}
}
EOF
start_nginx site

# --- A: the single-file mount, the hosted app through the proxy, http and https ---------

conf() { # conf NAME MNT HTTP_PORT TLS_PORT [VAR=VALUE...]: $T/NAME/nginx.conf by demo.sh conf
	local name=$1 mnt=$2 port=$3 tls=$4
	shift 4
	mkdir -p "$T/$name/tmp"
	env CELLUCID_TLS_PORT="$tls" CELLUCID_TLS_CERT="$T/tls/cert.pem" CELLUCID_TLS_KEY="$T/tls/key.pem" "$@" \
		bash "$ROOT/scripts/demo.sh" conf "$mnt" "$port" "$T/$name" >"$T/$name/nginx.conf.new" &&
		mv "$T/$name/nginx.conf.new" "$T/$name/nginx.conf"
}
bash "$ROOT/scripts/demo.sh" cert "$T/tls" || { fail "viewer: demo.sh cert"; exit 1; }
hosted=(CELLUCID_APP_UPSTREAM="https://127.0.0.1:$SITE" CELLUCID_APP_CA="$T/site/cert.pem")
conf a "$T/mnt1" "$A" "$A_TLS" "${hosted[@]}" || { fail "viewer: demo.sh conf for A"; exit 1; }
start_nginx a

# get URL [curl options...]: the response's headers and body into $T/headers and $T/body; prints
# the status code. over_tls ...: the same with the server's certificate trusted.
get() { curl -s -D "$T/headers" -o "$T/body" -w '%{http_code}' --max-time 30 "$@"; }
over_tls() { get --cacert "$T/tls/cert.pem" "$@"; }
header() { sed -n "s/^$1: *//Ip" "$T/headers" | tr -d '\r'; }   # header NAME: its value
expect() { # expect "what" STATUS [HEADER=VALUE...] [body=FILE] [body~TEXT]: check the last get
	local what=$1 status=$2 want k v why=""; shift 2
	[ "$got" = "$status" ] || why="status $got, expected $status"
	for want in "$@"; do
		k=${want%%[=~]*} v=${want#*[=~]}
		case "$want" in
		body=*) cmp -s "$T/body" "$v" || why+="; body is not $v" ;;
		body~*) grep -qF -- "$v" "$T/body" || why+="; body lacks '$v'" ;;
		*=*) [ "$(header "$k")" = "$v" ] || why+="; $k: '$(header "$k")', expected '$v'" ;;
		esac
	done
	if [ -z "$why" ]; then ok "viewer: $what"; else fail "viewer: $what: ${why#; }"; fi
}
BASE=http://127.0.0.1:$A

got=$(get "$BASE/")
expect "the app at / comes from the site through the proxy (X-Cache-Status MISS)" 200 \
	X-Cache-Status=MISS "body~<title>$MARK</title>"
got=$(get "$BASE/?remote=https://127.0.0.1:$A_TLS&dataset=x")
expect "/?remote=...&dataset=... is the same page, from the cache (HIT)" 200 X-Cache-Status=HIT "body~$MARK"
got=$(get "$BASE/assets/x.js")
expect "/assets/ comes from the site" 200 body="$T/site/www/assets/x.js" Content-Type=application/javascript
got=$(get "$BASE/favicon.ico")
expect "/favicon.ico comes from the site" 200 body="$T/site/www/favicon.ico"
got=$(get "$BASE/_cellucid/health")
expect "/_cellucid/health is the mount's, not the site's" 200 body="$T/mnt1/_cellucid/health" \
	Content-Type=application/json
got=$(get "$BASE/dataset_identity.json")
expect "/dataset_identity.json is the mount's, not the site's" 200 body="$T/mnt1/dataset_identity.json"
got=$(get "$BASE/only-on-site.json")
expect "a file the mount lacks is a 404, even when the site has it" 404
if grep -qE '"GET /(_cellucid/|dataset_identity|only-on-site)' "$T/site/access.log"; then
	fail "viewer: the site was asked for the mount's paths: $(grep -E '_cellucid|json' "$T/site/access.log" | head -n 2)"
else
	ok "viewer: the site was never asked for _cellucid/ or a data file"
fi

# https: the data, and the preflights of a public page (https://www.cellucid.com)
TLS=https://127.0.0.1:$A_TLS
got=$(over_tls "$TLS/_cellucid/health")
expect "https (demo.sh cert's certificate, valid for 127.0.0.1): /_cellucid/health is the mount's" 200 \
	body="$T/mnt1/_cellucid/health" Content-Type=application/json Access-Control-Allow-Origin='*' \
	Access-Control-Allow-Private-Network= Access-Control-Allow-Methods=
pna=(-X OPTIONS -H "Origin: https://www.cellucid.com" -H "Access-Control-Request-Method: GET")
got=$(over_tls "${pna[@]}" -H "Access-Control-Request-Private-Network: true" "$TLS/obs_manifest.json")
expect "https: a Private Network Access preflight is allowed" 204 Access-Control-Allow-Origin='*' \
	Access-Control-Allow-Private-Network=true "Access-Control-Allow-Methods=GET, HEAD, OPTIONS" \
	Access-Control-Max-Age=7200
got=$(over_tls "${pna[@]}" "$TLS/obs_manifest.json")
expect "https: a plain CORS preflight gets no Private Network header" 204 Access-Control-Allow-Origin='*' \
	Access-Control-Allow-Private-Network=

# offline: the site stops; then it cannot even be resolved
stop_nginx site
sleep 2.1   # assets/x.js has expired (nginx counts in whole seconds)
got=$(get "$BASE/assets/x.js")
expect "offline, an expired copy is served from the cache (STALE)" 200 X-Cache-Status=STALE \
	body="$T/site/www/assets/x.js"
got=$(get "$BASE/?remote=x")
expect "offline, the page at / is served from the cache" 200 "body~$MARK"
conf a "$T/mnt1" "$A" "$A_TLS" CELLUCID_APP_UPSTREAM=https://www.cellucid.invalid &&
	nginx_in a -s reload && sleep 0.5
got=$(get "$BASE/assets/x.js")
expect "a name nginx cannot resolve: the cached copy still (STALE)" 200 X-Cache-Status=STALE \
	body="$T/site/www/assets/x.js"
got=$(get "$BASE/assets/never-fetched.js")
expect "nothing cached and no site: a 502 that points at the preview" 502 "body~/_preview/"
got=$(get "$BASE/_preview/")
expect "the preview page is served" 200 "body~preview.js" Content-Type=text/html

# --- B: a directory source, the app from a local checkout, https -----------------------

mkdir -p "$T/checkout/assets" "$T/checkout/_cellucid"
echo "<!doctype html><title>local checkout $$</title>" >"$T/checkout/index.html"
echo "export const local = 1;" >"$T/checkout/assets/app.js"
cp "$T/site/www/_cellucid/health" "$T/checkout/_cellucid/health"
chmod -R a+rX "$T/checkout"
conf b "$T/mnt2" "$B" "$B_TLS" CELLUCID_APP_DIR="$T/checkout" || { fail "viewer: demo.sh conf for B"; exit 1; }
start_nginx b
BASE=http://127.0.0.1:$B TLS=https://127.0.0.1:$B_TLS
got=$(get "$BASE/?dataset=pbmc68k_reduced_legacy")
expect "local checkout: / is its index.html" 200 body="$T/checkout/index.html" Content-Type=text/html
got=$(get "$BASE/assets/app.js")
expect "local checkout: /assets/ as JavaScript" 200 body="$T/checkout/assets/app.js" Content-Type=text/javascript
got=$(get "$BASE/_cellucid/health")
expect "local checkout: /_cellucid/health is the mount's, not the checkout's" 200 \
	body="$T/mnt2/_cellucid/health"
got=$(over_tls "$TLS/_cellucid/datasets")
expect "directory source over https: /_cellucid/datasets" 200 Content-Type=application/json
# What the viewer does with ?remote=...&dataset=ID: each listed dataset's identity under
# its path, with the listing's id and name.
cp "$T/body" "$T/datasets.json"
listed=$("$PY" -c 'import json, sys
for d in json.load(open(sys.argv[1]))["datasets"]: print(d["id"], d["path"], d["name"])' "$T/datasets.json")
if [ "$(cut -d' ' -f1,2 <<<"$listed" | tr '\n' ' ')" = "pbmc68k_reduced /pbmc68k_reduced/ pbmc68k_reduced_legacy /pbmc68k_reduced_legacy/ " ]; then
	ok "viewer: the listing names both datasets, each under /ID/"
else
	fail "viewer: the listing: $listed"
fi
while read -r id path name; do
	got=$(over_tls "${pna[@]}" -H "Access-Control-Request-Private-Network: true" "$TLS${path}dataset_identity.json")
	expect "&dataset=$id: the preflight for its identity is allowed" 204 Access-Control-Allow-Private-Network=true
	got=$(over_tls -H "Origin: https://www.cellucid.com" "$TLS${path}dataset_identity.json")
	if [ "$got" = 200 ] && "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1])); sys.exit(d["id"] != sys.argv[2] or d["name"] != sys.argv[3])' "$T/body" "$id" "$name"; then
		ok "viewer: &dataset=$id: ${path}dataset_identity.json has the listing's id and name"
	else
		fail "viewer: &dataset=$id: ${path}dataset_identity.json: status $got"
	fi
done <<<"$listed"

problems=$(grep -hE '\[(alert|crit|emerg)\]' "$T"/{a,b}/error.log)
if [ -z "$problems" ]; then ok "viewer: no alert in nginx's error logs"
else fail "viewer: error log: $(head -n 2 <<<"$problems" | tr '\n' ' ')"; fi
finish
