#!/usr/bin/env bash
# test/mariadb.sh -- a private MariaDB server for tests and benchmarks.
#
#   test/mariadb.sh start DIR      create DIR/data on first use, start mariadbd
#                                  on 127.0.0.1 and a free port, wait until it
#                                  answers; prints the port.  Writes DIR/port,
#                                  DIR/pid, DIR/sock, DIR/err.log.  A second
#                                  start of the same DIR reuses its port.
#   test/mariadb.sh stop DIR       SIGTERM by pid, SIGKILL after 20 s
#   test/mariadb.sh kill DIR       SIGKILL by pid (a crash, for tests)
#   test/mariadb.sh sql DIR SQL    run SQL as root over the unix socket
#   test/mariadb.sh available      exit 0 when mariadbd is installed
#
# The server runs with --no-defaults (no /etc/mysql config), as root
# (--user=root, it refuses root otherwise), --skip-name-resolve, utf8mb4 as
# the server character set, and a 64 MiB max_allowed_packet so tests can
# move packets over 16 MiB.  On the first start a user is created on '%'
# with all privileges:
#   MARIADB_USER (default skynet) / MARIADB_PASSWORD (default skynet-pw).
# MARIADB_PORT forces the port.  Exit status 3: mariadbd is not installed.
set -u

MDB_USER=${MARIADB_USER:-skynet}
MDB_PASSWORD=${MARIADB_PASSWORD:-skynet-pw}

die() { echo "mariadb.sh: $*" >&2; exit 1; }

find_bin() {
	local b
	for b in "$@"; do
		if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
		[ -x "/usr/sbin/$b" ] && { echo "/usr/sbin/$b"; return 0; }
	done
	return 1
}

MARIADBD=$(find_bin mariadbd mysqld) || MARIADBD=""
INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db) || INSTALL_DB=""
CLIENT=$(find_bin mariadb mysql) || CLIENT=""

need_server() {
	if [ -z "$MARIADBD" ] || [ -z "$INSTALL_DB" ] || [ -z "$CLIENT" ]; then
		echo "mariadb.sh: mariadbd / mariadb-install-db / mariadb not installed (apt-get install mariadb-server mariadb-client)" >&2
		exit 3
	fi
}

# A port nobody listens on now (a race with other processes is handled by
# retrying the start on another port).
free_port() {
	local p n=0
	while [ $n -lt 200 ]; do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
		n=$((n + 1))
	done
	return 1
}

alive() { [ -s "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

root_sql() {
	local dir=$1
	shift
	"$CLIENT" --no-defaults -S "$dir/sock" -uroot --batch --skip-column-names -e "$*"
}

# launch DIR PORT: start mariadbd in the background; 0 once it answers.
launch() {
	local dir=$1 port=$2 i
	rm -f "$dir/pid"
	# setsid: the server must not die with the terminal or process group of
	# whoever started it; it is stopped by pid.
	setsid "$MARIADBD" --no-defaults --user=root --datadir="$dir/data" \
		--socket="$dir/sock" --port="$port" --bind-address=127.0.0.1 \
		--skip-name-resolve --pid-file="$dir/pid" --log-error="$dir/err.log" \
		--max-allowed-packet=64M --innodb-buffer-pool-size=32M \
		--innodb-log-file-size=16M --skip-log-bin --max-connections=200 \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
		</dev/null >>"$dir/out.log" 2>&1 &
	local launcher=$!
	echo "$port" >"$dir/port"
	for i in $(seq 1 300); do
		if root_sql "$dir" "select 1" >/dev/null 2>&1; then
			# setsid may fork: trust the pid file the server wrote
			for _ in $(seq 1 50); do [ -s "$dir/pid" ] && return 0; sleep 0.1; done
			echo "$launcher" >"$dir/pid"
			return 0
		fi
		if ! kill -0 "$launcher" 2>/dev/null && ! alive "$dir"; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

cmd_start() {
	local dir=$1 port tries
	need_server
	mkdir -p "$dir" || die "cannot create $dir"
	dir=$(cd "$dir" && pwd)
	if alive "$dir"; then
		cat "$dir/port"
		return 0
	fi
	local fresh=0
	if [ ! -d "$dir/data/mysql" ]; then
		"$INSTALL_DB" --no-defaults --auth-root-authentication-method=normal \
			--datadir="$dir/data" --skip-test-db >"$dir/install.log" 2>&1 ||
			{ tail -5 "$dir/install.log" >&2; die "mariadb-install-db failed (log $dir/install.log)"; }
		fresh=1
	fi
	for tries in 1 2 3 4 5; do
		if [ -n "${MARIADB_PORT:-}" ]; then
			port=$MARIADB_PORT
		elif [ -s "$dir/port" ] && [ $fresh -eq 0 ] && [ "$tries" -eq 1 ]; then
			port=$(cat "$dir/port")
		else
			port=$(free_port) || die "no free port"
		fi
		if launch "$dir" "$port"; then
			if [ $fresh -eq 1 ]; then
				root_sql "$dir" "CREATE USER '$MDB_USER'@'%' IDENTIFIED BY '$MDB_PASSWORD';
					GRANT ALL PRIVILEGES ON *.* TO '$MDB_USER'@'%' WITH GRANT OPTION;
					DROP USER IF EXISTS ''@'localhost';
					FLUSH PRIVILEGES;" || die "cannot create user $MDB_USER"
			fi
			echo "$port"
			return 0
		fi
		cmd_kill "$dir" 2>/dev/null
		# a port taken meanwhile: try another one (unless forced)
		grep -q 'Address already in use\|Can.t start server: Bind' "$dir/err.log" 2>/dev/null &&
			[ -z "${MARIADB_PORT:-}" ] && { : >"$dir/err.log"; continue; }
		break
	done
	tail -20 "$dir/err.log" >&2
	die "mariadbd did not start (log $dir/err.log)"
}

cmd_stop() {
	local dir=$1 pid i
	[ -s "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	kill "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
		sleep 0.1
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

case "${1:-}" in
	start) [ $# -eq 2 ] || die "usage: $0 start DIR"; cmd_start "$2" ;;
	stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; cmd_stop "$2" ;;
	kill) [ $# -eq 2 ] || die "usage: $0 kill DIR"; cmd_kill "$2" ;;
	sql) [ $# -ge 3 ] || die "usage: $0 sql DIR SQL"; need_server; d=$2; shift 2; root_sql "$d" "$*" ;;
	available) [ -n "$MARIADBD" ] && [ -n "$INSTALL_DB" ] && [ -n "$CLIENT" ] ;;
	*) die "usage: $0 start|stop|kill|sql|available DIR ..." ;;
esac
