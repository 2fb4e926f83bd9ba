# shellcheck shell=bash
# scripts/bench/nginx.sh - sourced by scripts/bench.sh: (d), nginx with the
# shipped server block (scripts/nginx/cellucid.conf, via `scripts/demo.sh
# conf`; master as root, workers as www-data, as a deployment runs it) and
# `wrk -t2 -c16` on random gene files (scripts/bench/random_genes.lua, fixed
# seed, so the mount and the plain directory get the same requests).
#
#   serve_rate main rps_mount "$TMP/mnt" "$TMP/genes.list" "the mount"
#   -> R[main.rps_mount]=27947.12; wrk's report in build/bench/main-wrk.log

NGINX_PREFIX=    # nginx's prefix directory while it runs

run_nginx() { nginx -p "$NGINX_PREFIX/" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log" "$@"; }

# free_port: the first port from FIRST_PORT nothing listens on.
free_port() {
	local p
	for ((p = FIRST_PORT; p < FIRST_PORT + 100; p++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	die "no free port in $FIRST_PORT-$((FIRST_PORT + 99)) (set BENCH_PORT)"
}

# start_nginx ROOT PORT: the shipped server block serving ROOT, its master
# as root, its workers as www-data (as a real deployment runs it).
start_nginx() {
	local i
	NGINX_PREFIX=$TMP/nginx
	rm -rf "$NGINX_PREFIX"
	mkdir -p "$NGINX_PREFIX/tmp"
	bash "$ROOT/scripts/demo.sh" conf "$1" "$2" "$NGINX_PREFIX" >"$NGINX_PREFIX/nginx.conf"
	if ! run_nginx 2>/dev/null; then
		say "nginx did not start: $(tail -n 2 "$NGINX_PREFIX/error.log" 2>/dev/null)"
		NGINX_PREFIX=
		return 1
	fi
	for ((i = 0; i < 100; i++)); do
		curl -fs -o /dev/null "http://127.0.0.1:$2/dataset_identity.json" && return 0
		sleep 0.1
	done
	say "nginx does not serve $1 on port $2: $(tail -n 2 "$NGINX_PREFIX/error.log")"
	return 1
}

stop_nginx() {
	local pid i=0
	[ -n "$NGINX_PREFIX" ] || return 0
	if pid=$(cat "$NGINX_PREFIX/nginx.pid" 2>/dev/null) && alive "$pid"; then
		run_nginx -s quit 2>/dev/null || kill -QUIT "$pid"
		while alive "$pid" && [ "$i" -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if alive "$pid"; then kill -TERM "$pid"; fi
	fi
	NGINX_PREFIX=
}

# serve_rate KEY MEASURE ROOT LIST WHAT: R[KEY.MEASURE] = nginx's requests/s
# for the paths in LIST under ROOT (WHAT, in the logs). Every response must be a 200, and nginx's
# error log must stay free of alerts (its sign of a file that changed size).
# wrk's report goes to build/bench/KEY-wrk.log.
serve_rate() {
	local port out bad log=$OUT/$1-wrk.log
	port=$(free_port)
	if ! start_nginx "$3" "$port"; then
		R[$1.$2]=error
		stop_nginx
		return 0
	fi
	mark "$log" "(d) wrk on $5 ($3)"
	mark "$OUT/$1.log" "(d) nginx + wrk on $5"
	if ! out=$(wrk -t2 -c16 -d"${WRK_SECONDS}s" -s "$WRK_LUA" "http://127.0.0.1:$port" -- "$4" "$SEED" 2>&1); then
		echo "$out" >>"$log"
		R[$1.$2]=error
		stop_nginx
		return 0
	fi
	echo "$out" >>"$log"
	if grep -E '\[(alert|crit|emerg)\]|truncated' "$NGINX_PREFIX/error.log" >>"$log"; then
		NOTES+=("$1 (d) on $5: nginx logged alerts (see ${log#"$ROOT"/})")
	fi
	stop_nginx
	bad=$(awk '/^Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
	if [ -n "$bad" ]; then
		NOTES+=("$1 (d) on $5: $bad responses were not 200 (see ${log#"$ROOT"/})")
		R[$1.$2]=error
		return 0
	fi
	if grep -q '^  Socket errors:' <<<"$out"; then
		NOTES+=("$1 (d) on $5: wrk:$(grep '^  Socket errors:' <<<"$out" | sed 's/^ *Socket errors//')")
	fi
	R[$1.$2]=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
}

