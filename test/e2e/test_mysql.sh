#!/usr/bin/env bash
# skynet.db.mysql end to end, against a private MariaDB started here
# (test/mariadb.sh) and, for caching_sha2_password / sha256_password, a
# scripted server (test/e2e/mysql_sha2_server.py); then the message board
# example (examples/msgboard) driven by real TCP clients.
# The checks themselves are in test/e2e/lua/mysql_main.lua (driver) and
# test/e2e/msgboard_client.py (message board).
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK
MDB=$W/mdb
SHA2_PID=""

mysql_cleanup() {
	[ -n "$SHA2_PID" ] && kill "$SHA2_PID" 2>/dev/null
	"$ROOT/test/mariadb.sh" stop "$MDB" 2>/dev/null
	e2e_cleanup
}
trap mysql_cleanup EXIT
trap 'exit 143' TERM INT HUP

# run_node NAME CONFIG BOUND: runs a node, echoes its PASS/FAIL lines
run_node() {
	local name=$1 cfg=$2 bound=$3 out=$W/$1.out
	timeout -k 5 "$bound" ./skynet "$cfg" >"$out" 2>&1
	local rc=$?
	grep -E '\] (PASS|FAIL) ' "$out" | sed 's/^\[:[0-9a-f]*\] //'
	if ! grep -q '\] DONE' "$out"; then
		fail "$name: node finished" "exit status $rc, no DONE; last lines:"
		tail -20 "$out"
	fi
}

if ! test/mariadb.sh available; then
	fail "mysql: MariaDB installed" "mariadbd not found (tools/install-deps.sh installs mariadb-server mariadb-client)"
	exit 1
fi

t0=$(date +%s)
port=$(test/mariadb.sh start "$MDB")
if [ -z "$port" ]; then
	fail "mysql: private MariaDB starts" "see $MDB/err.log"
	exit 1
fi
echo "mysql: private MariaDB on 127.0.0.1:$port, ready in $(( $(date +%s) - t0 )) s"
pass "mysql: a private MariaDB starts (test/mariadb.sh)"
test/mariadb.sh sql "$MDB" "CREATE DATABASE skynet_test CHARACTER SET utf8mb4"

python3 test/e2e/mysql_sha2_server.py >"$W/sha2.out" 2>&1 &
SHA2_PID=$!
wait_for "$W/sha2.out" '^PORT ' 10
sha2_port=$(sed -n 's/^PORT //p' "$W/sha2.out")
[ -n "$sha2_port" ] || fail "mysql: the scripted caching_sha2 server starts" "$(tail -3 "$W/sha2.out")"
sed -n '/^PEM = b"""/,/^"""/p' test/e2e/mysql_sha2_server.py | sed '1s/^PEM = b"""//; $d' >"$W/sha2.pem"

# a port nobody listens on
closed_port=$(( 20000 + RANDOM % 30000 ))
while (exec 3<>"/dev/tcp/127.0.0.1/$closed_port") 2>/dev/null; do closed_port=$(( 20000 + RANDOM % 30000 )); done

write_config "$W/mysql.config" mysql_main \
	"lua_path = \"$ROOT/lualib/?.lua;$ROOT/lualib/?/init.lua;$ROOT/test/lua/?.lua\"" \
	"mysql_port = \"$port\"" \
	"mysql_user = \"${MARIADB_USER:-skynet}\"" \
	"mysql_password = \"${MARIADB_PASSWORD:-skynet-pw}\"" \
	"mdb_script = \"$ROOT/test/mariadb.sh\"" \
	"mdb_dir = \"$MDB\"" \
	"closed_port = \"$closed_port\"" \
	"sha2_port = \"$sha2_port\"" \
	"sha2_pem_file = \"$W/sha2.pem\""
run_node mysql_main "$W/mysql.config" 240

# --- the message board example (examples/msgboard) ---------------------
mb_port=$(free_ports 1)
cat >"$W/msgboard.config" <<CONF
include "$ROOT/examples/msgboard/config"
msgboard_address = "127.0.0.1"
msgboard_port = $mb_port
mysql_port = $port
mysql_user = "${MARIADB_USER:-skynet}"
mysql_password = "${MARIADB_PASSWORD:-skynet-pw}"
CONF

# start_board OUT: starts the example node, waits until it listens
start_board() {
	./skynet "$W/msgboard.config" >"$1" 2>&1 &
	board_pid=$!
	E2E_PIDS+=("$board_pid")
	wait_for "$1" "Message board listening on 127.0.0.1:$mb_port" 20
}

if start_board "$W/msgboard1.out"; then
	pass "msgboard: the example starts with its config included and overridden"
	python3 test/e2e/msgboard_client.py "$mb_port" store "$W/msgboard.state"
	expect "msgboard: created database message_board and table msgs (id, text)" \
		test "$(test/mariadb.sh sql "$MDB" "select count(*) from message_board.msgs")" = "$(cut -d' ' -f1 "$W/msgboard.state")"
	expect "msgboard: multibyte UTF-8 is stored in the table byte-exact" \
		test "$(test/mariadb.sh sql "$MDB" "select hex(text) from message_board.msgs where id = 5")" = "$(cut -d' ' -f2 "$W/msgboard.state")"
	expect "msgboard: connects and disconnects are logged" \
		bash -c "grep -q ' connect addr:127.0.0.1:' '$W/msgboard1.out' && grep -q ' disconnect addr:127.0.0.1:' '$W/msgboard1.out'"
	kill "$board_pid" 2>/dev/null
	wait "$board_pid" 2>/dev/null
	if start_board "$W/msgboard2.out"; then
		python3 test/e2e/msgboard_client.py "$mb_port" persist "$W/msgboard.state"
	else
		fail "msgboard: restarts" "$(tail -5 "$W/msgboard2.out")"
	fi
	kill "$board_pid" 2>/dev/null
	wait "$board_pid" 2>/dev/null
	if grep -qiE 'traceback|stack traceback' "$W/msgboard1.out" "$W/msgboard2.out"; then
		fail "msgboard: no Lua errors in the node log" "$(grep -iE -m3 'traceback' "$W"/msgboard*.out)"
	else
		pass "msgboard: no Lua errors in the node log"
	fi
else
	fail "msgboard: the example starts" "$(tail -10 "$W/msgboard1.out")"
fi
