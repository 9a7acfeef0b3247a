#!/usr/bin/env bash
# test/redis.sh -- private redis-server instances for tests and benchmarks.
#
#   test/redis.sh start DIR [ARGS...]   start redis-server on 127.0.0.1 and a
#                                       free port (DIR/port), working directory
#                                       DIR, no persistence; wait until it
#                                       answers PING; print the port.  ARGS go
#                                       to redis-server (e.g. --requirepass x).
#                                       A second start of the same DIR reuses
#                                       its port (a restart keeps the address).
#   test/redis.sh stop DIR              SIGTERM by pid, SIGKILL after 10 s
#   test/redis.sh kill DIR              SIGKILL by pid (a crash)
#   test/redis.sh pause DIR / resume DIR   SIGSTOP / SIGCONT (a server that
#                                       accepts connections but never answers)
#   test/redis.sh cli DIR ARGS...       redis-cli against it
#   test/redis.sh cluster DIR N         N masters (cluster-enabled) in DIR/1..N
#                                       on free ports, slots spread by
#                                       redis-cli --cluster create; waits for
#                                       cluster_state:ok; prints the ports
#   test/redis.sh available             exit 0 when redis-server and redis-cli
#                                       are installed
#
# Only servers this script started are touched (by the pid in DIR/pid); a
# system redis on 6379 is never used.  Exit status 3: not installed.
set -u

die() { echo "redis.sh: $*" >&2; exit 1; }

SERVER=$(command -v redis-server 2>/dev/null || echo /usr/bin/redis-server)
CLI=$(command -v redis-cli 2>/dev/null || echo /usr/bin/redis-cli)

need_server() {
	if [ ! -x "$SERVER" ] || [ ! -x "$CLI" ]; then
		echo "redis.sh: redis-server / redis-cli not installed (apt-get install redis-server redis-tools)" >&2
		exit 3
	fi
}

free_port() {
	local p n=0
	while [ $n -lt 200 ]; do
		p=$((20000 + RANDOM % 30000))
		# the cluster bus uses port + 10000 too
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
			! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 10000))") 2>/dev/null; then
			echo "$p"
			return 0
		fi
		n=$((n + 1))
	done
	return 1
}

alive() { [ -s "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

cli() {
	local dir=$1
	shift
	"$CLI" -h 127.0.0.1 -p "$(cat "$dir/port")" ${REDIS_CLI_AUTH:+-a "$REDIS_CLI_AUTH" --no-auth-warning} "$@"
}

# launch DIR PORT ARGS...: 0 once the server answers PING (or an auth error)
launch() {
	local dir=$1 port=$2 i
	shift 2
	rm -f "$dir/pid" "$dir/redis.pid"
	echo "$port" >"$dir/port"
	# No setsid: a server in its own session gets its own scheduler
	# autogroup, and a ping-pong with the node across two groups ran 2-3x
	# slower on a loaded machine.  It is stopped by pid (and a `timeout`
	# around the caller takes it down with the process group).
	(cd "$dir" && exec "$SERVER" --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--dir "$dir" --logfile "$dir/server.log" --pidfile "$dir/redis.pid" "$@" \
		</dev/null >>"$dir/out.log" 2>&1) &
	echo $! >"$dir/pid"
	for i in $(seq 1 200); do
		local r
		r=$("$CLI" -h 127.0.0.1 -p "$port" ping 2>&1)
		case $r in
			PONG* | *NOAUTH* | *LOADING*)
				# trust the server's own pid file
				[ -s "$dir/redis.pid" ] && cp "$dir/redis.pid" "$dir/pid"
				return 0 ;;
		esac
		alive "$dir" || return 1
		sleep 0.05
	done
	return 1
}

cmd_start() {
	local dir=$1 port tries
	shift
	need_server
	mkdir -p "$dir" || die "cannot create $dir"
	dir=$(cd "$dir" && pwd)
	if alive "$dir"; then
		cat "$dir/port"
		return 0
	fi
	# a restart without arguments uses those of the first start
	if [ $# -eq 0 ] && [ -s "$dir/args" ]; then
		mapfile -t saved <"$dir/args"
		set -- "${saved[@]}"
	elif [ $# -gt 0 ]; then
		printf '%s\n' "$@" >"$dir/args"
	else
		rm -f "$dir/args"
	fi
	for tries in 1 2 3 4 5; do
		if [ -s "$dir/port" ] && [ "$tries" -eq 1 ]; then
			port=$(cat "$dir/port")
		else
			port=$(free_port) || die "no free port"
		fi
		if launch "$dir" "$port" "$@"; then
			echo "$port"
			return 0
		fi
		cmd_kill "$dir" 2>/dev/null
		grep -q 'Address already in use' "$dir/server.log" 2>/dev/null && { : >"$dir/server.log"; continue; }
		break
	done
	tail -20 "$dir/server.log" >&2
	die "redis-server did not start (log $dir/server.log)"
}

cmd_stop() {
	local dir=$1 pid i
	[ -s "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	kill -CONT "$pid" 2>/dev/null
	kill "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	rm -f "$dir/pid"
}

cmd_kill() {
	local dir=$1 pid i
	[ -s "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	kill -9 "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	rm -f "$dir/pid"
}

# cluster DIR N: N masters in DIR/1..N
cmd_cluster() {
	local dir=$1 n=$2 i addrs=() ports=()
	need_server
	mkdir -p "$dir" || die "cannot create $dir"
	dir=$(cd "$dir" && pwd)
	for i in $(seq 1 "$n"); do
		local p
		mkdir -p "$dir/$i"
		p=$(cmd_start "$dir/$i" --cluster-enabled yes --cluster-config-file "$dir/$i/nodes.conf" \
			--cluster-node-timeout 3000 --cluster-require-full-coverage no) || die "node $i did not start"
		ports+=("$p")
		addrs+=("127.0.0.1:$p")
	done
	if ! "$CLI" -p "${ports[0]}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
		"$CLI" --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
			{ cat "$dir/create.log" >&2; die "redis-cli --cluster create failed"; }
	fi
	for i in $(seq 1 200); do
		local ok=1 p
		for p in "${ports[@]}"; do
			"$CLI" -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
		done
		if [ $ok -eq 1 ]; then
			echo "${ports[@]}"
			return 0
		fi
		sleep 0.1
	done
	die "cluster_state did not become ok"
}

case "${1:-}" in
	start) [ $# -ge 2 ] || die "usage: $0 start DIR [ARGS...]"; d=$2; shift 2; cmd_start "$d" "$@" ;;
	stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; cmd_stop "$2" ;;
	kill) [ $# -eq 2 ] || die "usage: $0 kill DIR"; cmd_kill "$2" ;;
	pause) [ $# -eq 2 ] || die "usage: $0 pause DIR"; kill -STOP "$(cat "$2/pid")" ;;
	resume) [ $# -eq 2 ] || die "usage: $0 resume DIR"; kill -CONT "$(cat "$2/pid")" ;;
	cli) [ $# -ge 3 ] || die "usage: $0 cli DIR ARGS..."; need_server; d=$2; shift 2; cli "$d" "$@" ;;
	cluster) [ $# -eq 3 ] || die "usage: $0 cluster DIR N"; cmd_cluster "$2" "$3" ;;
	available) [ -x "$SERVER" ] && [ -x "$CLI" ] ;;
	*) die "usage: $0 start|stop|kill|pause|resume|cli|cluster|available DIR ..." ;;
esac
