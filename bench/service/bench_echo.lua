-- bench_echo.lua -- start service of the `echo` scenario: a TCP echo
-- server written with skynet.socket.  It listens on 127.0.0.1:bench_port
-- and hands accepted connections round robin to bench_echo_agents (4)
-- bench_echo_agent services, which loop socket.read(fd, 64) ->
-- socket.write(fd, data).  bench/netload.c is the client (run.sh starts it
-- once the file bench_ready exists).  The node ends when bench_conns
-- connections have come and gone.  Metrics (the client's are printed by
-- run.sh): <prefix>_node_cpu_us_per_req, node CPU from the first accept to
-- the last close divided by the requests the agents answered.
-- The `http` and `websocket` scenarios use it too, with bench_agent =
-- bench_http_agent or bench_ws_agent (the agent service to start).
local skynet = require "skynet"
local socket = require "skynet.socket"
local benchlib = require "benchlib"

skynet.start(function()
	benchlib.guard "echo"
	local port = assert(tonumber(skynet.getenv "bench_port"), "bench_port")
	local expect = tonumber(skynet.getenv "bench_conns") or 1
	local nagents = tonumber(skynet.getenv "bench_agents") or 4
	local size = tonumber(skynet.getenv "bench_size") or 64
	local prefix = skynet.getenv "bench_prefix" or "echo"
	local agent = skynet.getenv "bench_agent" or "bench_echo_agent"
	local agents = {}
	for i = 1, nagents do
		agents[i] = skynet.newservice(agent, size)
	end
	local accepted, closed, served, rr = 0, 0, 0, 0
	local cpu0
	local main = coroutine.running()
	skynet.dispatch("lua", function(_, _, cmd, n)
		if cmd == "closed" then
			closed = closed + 1
			served = served + n
			if closed == expect then
				skynet.wakeup(main)
			end
		end
	end)
	local lid = socket.listen("127.0.0.1", port)
	socket.start(lid, function(fd)
		accepted = accepted + 1
		if accepted == 1 then
			cpu0 = benchlib.cpu_ticks()
		end
		rr = rr % nagents + 1
		skynet.send(agents[rr], "lua", "conn", fd)
		if accepted == expect then
			socket.close(lid)
		end
	end)
	local ready = assert(io.open(assert(skynet.getenv "bench_ready"), "w"))
	ready:close()
	skynet.wait(main)
	local cpu_ns = benchlib.ticks_to_ns(benchlib.cpu_ticks() - cpu0)
	if served > 0 then
		benchlib.metric(prefix .. "_node_cpu_us_per_req", cpu_ns / served / 1000, "us")
	end
	benchlib.finish()
end)
