# Helpers shared by the cluster end-to-end tests (sourced after lib.sh):
# node map files, starting server and client nodes, reporting
# a client node's PASS/FAIL lines.
W=$E2E_WORK
PEER="python3 test/e2e/cluster_peer.py"

# write_map FILE name=addr ...: a cluster node map file
write_map() {
	local file=$1 kv
	shift
	: > "$file"
	for kv in "$@"; do echo "${kv%%=*} = \"${kv#*=}\"" >> "$file"; done
}

# start_server TAG NAME MAP [PREFIX...]: a cluster_server node in the
# background (PREFIX: a command to run it under, e.g. ip netns exec), with
# the config lines of the array SERVER_EXTRA if set.
# Sets SERVER_PID; PASS/FAIL on whether it logged READY.
SERVER_EXTRA=()
start_server() {
	local tag=$1 name=$2 map=$3
	shift 3
	write_config "$W/$tag.config" cluster_server "cluster = \"$map\"" "cluster_name = \"$name\"" "${SERVER_EXTRA[@]}"
	"$@" ./skynet "$W/$tag.config" >> "$W/$tag.log" 2>&1 &
	SERVER_PID=$!
	E2E_PIDS+=("$SERVER_PID")
	if ! wait_for "$W/$tag.log" "READY $name" 15; then
		fail "$tag: node $name starts" "no READY line; log: $(tail -5 "$W/$tag.log" | tr '\n' '|')"
		return 1
	fi
}

# client_config TAG SCENARIO MAP NAME [extra config lines...]
client_config() {
	local tag=$1 scenario=$2 map=$3 name=$4
	shift 4
	mkdir -p "$W/sync-$tag"
	local extra=("cluster = \"$map\"" "cluster_test = \"$scenario\"" "cluster_sync = \"$W/sync-$tag\"")
	[ -n "$name" ] && extra+=("cluster_name = \"$name\"")
	write_config "$W/$tag.config" cluster_client "${extra[@]}" "$@"
}

# report TAG: the client's PASS/FAIL lines, and a FAIL if it did not finish
report() {
	sed -n 's/^\[:[0-9a-f]*\] \(\(PASS\|FAIL\) .*\)$/\1/p' "$W/$1.log"
	if ! grep -q '\] DONE$' "$W/$1.log"; then
		fail "$1: scenario finished" "no DONE line; first error: $(grep -m1 -iE 'error|failed' "$W/$1.log"); last lines: $(tail -4 "$W/$1.log" | tr '\n' '|')"
	fi
}

# run_client TAG SCENARIO MAP NAME [extra...]: run a client node to the end
run_client() {
	local tag=$1
	client_config "$@"
	timeout -k 5 120 ./skynet "$W/$tag.config" > "$W/$tag.log" 2>&1
	report "$tag"
}

# wait_file FILE SECONDS
wait_file() {
	local n=$(($2 * 20))
	while [ "$n" -gt 0 ] && [ ! -e "$1" ]; do sleep 0.05; n=$((n - 1)); done
	[ -e "$1" ]
}

stop() { kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

