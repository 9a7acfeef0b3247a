# Helpers shared by the end-to-end tests (sourced).  Every check prints one
# `PASS <name>` or `FAIL <name>: <why>` line, counted by test/run.sh.
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$(pwd)
E2E_WORK=$(mktemp -d /tmp/skynet-e2e.XXXXXX)
E2E_PIDS=()
e2e_cleanup() {
	local p
	for p in "${E2E_PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
	# KEEP_E2E=DIR keeps a copy of the work directory (logs, configs) there
	[ -n "${KEEP_E2E:-}" ] && cp -r "$E2E_WORK" "$KEEP_E2E"
	rm -rf "$E2E_WORK"
}
trap e2e_cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# expect NAME COMMAND...: PASS when the command succeeds
expect() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# write_config FILE START [extra lines...]: a single-node config for tests
write_config() {
	local file=$1 start=$2
	shift 2
	{
		echo "thread = 2"
		echo "harbor = 0"
		echo "start = \"$start\""
		echo "bootstrap = \"snlua bootstrap\""
		echo "cpath = \"$ROOT/cservice/?.so\""
		echo "luaservice = \"$ROOT/service/?.lua;$ROOT/test/e2e/lua/?.lua;$ROOT/examples/?.lua\""
		echo "lualoader = \"$ROOT/lualib/loader.lua\""
		echo "lua_path = \"$ROOT/lualib/?.lua;$ROOT/lualib/?/init.lua\""
		echo "lua_cpath = \"$ROOT/luaclib/?.so\""
		local line
		for line in "$@"; do echo "$line"; done
	} > "$file"
}

# wait_for FILE PATTERN SECONDS: poll until the pattern shows up
wait_for() {
	local file=$1 pattern=$2 n=$(( $3 * 20 ))
	while [ "$n" -gt 0 ]; do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

# free_ports N: N distinct TCP ports free on 127.0.0.1 right now
free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
