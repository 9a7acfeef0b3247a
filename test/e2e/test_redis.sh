#!/usr/bin/env bash
# skynet.db.redis, skynet.db.redis.cluster and redis.watch end to end,
# against private redis-servers started here (test/redis.sh): a plain one,
# one with requirepass (upstream's testredis2 setup) and a 3-master cluster.
# The checks are in test/e2e/lua/redis_main.lua (driver, pub/sub,
# failures) and test/e2e/lua/redis_cluster_main.lua (cluster).
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

redis_cleanup() {
	local d
	for d in "$W/r1" "$W/rpw" "$W/cluster/1" "$W/cluster/2" "$W/cluster/3"; do
		[ -d "$d" ] && test/redis.sh stop "$d" 2>/dev/null
	done
	e2e_cleanup
}
trap redis_cleanup EXIT
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

if ! test/redis.sh available; then
	fail "redis: redis-server installed" "redis-server not found (tools/install-deps.sh installs redis-server redis-tools)"
	exit 1
fi

port=$(test/redis.sh start "$W/r1")
pw_port=$(test/redis.sh start "$W/rpw" --requirepass foobared)
if [ -z "$port" ] || [ -z "$pw_port" ]; then
	fail "redis: private redis-servers start" "see $W/r1/server.log"
	exit 1
fi
pass "redis: private redis-servers start (test/redis.sh)"

closed_port=$(( 20000 + RANDOM % 30000 ))
while (exec 3<>"/dev/tcp/127.0.0.1/$closed_port") 2>/dev/null; do closed_port=$(( 20000 + RANDOM % 30000 )); done

# a listener that never accepts, its queue filled: a connect to it hangs
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    fill.append(c)
print(port, flush=True)
time.sleep(600)
' >"$W/blackhole.out" 2>&1 &
E2E_PIDS+=("$!")
wait_for "$W/blackhole.out" '^[0-9]' 10
blackhole_port=$(head -1 "$W/blackhole.out")

write_config "$W/redis.config" redis_main \
	"blackhole_port = \"$blackhole_port\"" \
	"lua_path = \"$ROOT/lualib/?.lua;$ROOT/lualib/?/init.lua;$ROOT/test/lua/?.lua\"" \
	"redis_port = \"$port\"" \
	"redis_dir = \"$W/r1\"" \
	"redis_pw_port = \"$pw_port\"" \
	"redis_script = \"$ROOT/test/redis.sh\"" \
	"closed_port = \"$closed_port\""
run_node redis_main "$W/redis.config" 180

if cluster_ports=$(test/redis.sh cluster "$W/cluster" 3); then
	pass "redis cluster: 3 masters up, cluster_state:ok"
	set -- $cluster_ports
	write_config "$W/cluster.config" redis_cluster_main \
		"lua_path = \"$ROOT/lualib/?.lua;$ROOT/lualib/?/init.lua;$ROOT/test/lua/?.lua\"" \
		"cluster_ports = \"$cluster_ports\"" \
		"cluster_dir = \"$W/cluster\"" \
		"redis_script = \"$ROOT/test/redis.sh\""
	run_node redis_cluster_main "$W/cluster.config" 180
else
	fail "redis cluster: 3 masters up" "test/redis.sh cluster failed"
fi
