-- bench_gate.lua -- start service of the `gate` scenario: frames through
-- the Lua gate (service/gate.lua) to agents.  It is the gate's watchdog:
-- each accepted connection is forwarded to one of bench_gate_agents (4)
-- bench_gate_agent services, round robin, which answer every frame with
-- the same frame (netpack.pack + socket.write).  bench/netload.c -f is the
-- client.  The node ends when bench_conns connections have come and gone.
-- Metric: <prefix>_node_cpu_us_per_frame (node CPU from the first accept
-- to the last close / frames the agents answered).
local skynet = require "skynet"
local benchlib = require "benchlib"

skynet.start(function()
	benchlib.guard "gate"
	local port = assert(tonumber(skynet.getenv "bench_port"), "bench_port")
	local expect = tonumber(skynet.getenv "bench_conns") or 64
	local nagents = tonumber(skynet.getenv "bench_agents") or 4
	local prefix = skynet.getenv "bench_prefix" or "gate"
	local agents = {}
	for i = 1, nagents do
		agents[i] = skynet.newservice "bench_gate_agent"
	end
	local gate = skynet.newservice "gate"
	local accepted, closed, rr = 0, 0, 0
	local cpu0
	local main = coroutine.running()
	local SOCKET = {}
	function SOCKET.open(fd)
		accepted = accepted + 1
		if accepted == 1 then
			cpu0 = benchlib.cpu_ticks()
		end
		rr = rr % nagents + 1
		skynet.call(gate, "lua", "forward", fd, 0, agents[rr])
	end
	function SOCKET.close()
		closed = closed + 1
		if closed == expect then
			skynet.wakeup(main)
		end
	end
	skynet.dispatch("lua", function(_, _, cmd, sub, ...)
		if cmd == "socket" then
			local f = SOCKET[sub]
			if f then
				f(...)
			end
		end
	end)
	skynet.call(gate, "lua", "open", {
		address = "127.0.0.1", port = port, maxclient = expect + 16, nodelay = true,
	})
	local ready = assert(io.open(assert(skynet.getenv "bench_ready"), "w"))
	ready:close()
	skynet.wait(main)
	local cpu_ns = benchlib.ticks_to_ns(benchlib.cpu_ticks() - cpu0)
	local frames = 0
	for _, a in ipairs(agents) do
		frames = frames + skynet.call(a, "lua", "count")
	end
	if frames > 0 then
		benchlib.metric(prefix .. "_node_cpu_us_per_frame", cpu_ns / frames / 1000, "us")
	end
	benchlib.finish()
end)
