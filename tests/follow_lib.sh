# tests/follow_lib.sh - the nginx load of tests/follow.sh and
# tests/follow_dir.sh: readers over HTTP while the source changes.
#
#   change() { ...the k-th change ($1)...; }
#   if load_while_changing MNT FIRST_PORT change EXPORT...; then ...
#
# nginx serves MNT (its prefix $T/ngx) on the first free port from
# FIRST_PORT; tests/follow_load.py reads random files of the EXPORTs (the
# states the mount goes through) over 16 connections while change 1..10 runs
# 2.5 s apart, then 4 s more. Its output goes to the test's output, its
# verdict is checked, and so is nginx's log; nginx is stopped. 1 when nginx
# does not start.
LOAD_CHANGES=10
load_while_changing() {
	local mnt=$1 first=$2 change=$3 port= p k client rc; shift 3
	mkdir -p "$T/ngx/tmp"
	chmod -R a+rX "$T/ngx"
	for p in $(seq "$first" $((first + 19))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		bash "$ROOT/scripts/demo.sh" conf "$mnt" "$p" "$T/ngx" >"$T/ngx/nginx.conf" &&
			run_load_nginx 2>/dev/null && { port=$p; break; }
	done
	if [ -z "$port" ]; then
		fail "nginx does not start: $(tail -n 2 "$T/ngx/error.log" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	$PY "$ROOT/tests/follow_load.py" "$port" $((LOAD_CHANGES * 5 / 2 + 4)) "$@" >"$T/load.out" 2>&1 &
	client=$!
	for k in $(seq 1 $LOAD_CHANGES); do
		sleep 2.5
		"$change" "$k"
	done
	wait "$client"; rc=$?
	sed 's/^/    /' "$T/load.out"
	check "nginx under 16 connections, $LOAD_CHANGES changes: every response 200 or 404, each body one state's file" \
		test "$rc" -eq 0
	check "nginx logged no truncated file" bash -c "! grep -q truncated '$T/ngx/error.log'"
	run_load_nginx -s quit 2>/dev/null
	wait_until 10 bash -c "! test -e '$T/ngx/nginx.pid'"
	return 0
}
run_load_nginx() { nginx -p "$T/ngx/" -c "$T/ngx/nginx.conf" -e "$T/ngx/error.log" "$@"; }
