-- bench_cluster.lua -- start service of the `cluster` scenario (client node).
--
-- Waits for the server node (bench_cluster_server.lua, started first by
-- run.sh) to write its port, then measures against its "@target":
--   cluster_call_co1 / _co64   cluster.call round trips per second from 1
--   (cluster_call_timeout_coN: the same with cluster.call_timeout(3000, ...))
--                              and 64 coroutines (skynet.fork) of this service
--   cluster_send               cluster.send messages per second, in batches
--                              of 1,000 each followed by a cluster.call that
--                              returns the target's count (so every counted
--                              message was delivered; this also bounds memory)
--   cluster_req_1mib           cluster.call with a 1 MiB string argument
--                              (answered with its size): payload MiB/s
--   cluster_resp_1mib          cluster.call answered with a 1 MiB string
-- "cpu" figures are the CPU of BOTH nodes (the server's read through a
-- cluster.call) over the window, per operation.

local skynet = require "skynet"
local cluster = require "skynet.cluster"
local benchlib = require "benchlib"

local NODE, TARGET = "bench_server", "@target"

local function both_cpu()
	return benchlib.cpu_ticks() + cluster.call(NODE, TARGET, "cpu")
end

-- Measures while `count()` advances; returns rate/s and CPU ns per op.
local function window(count)
	skynet.sleep(math.floor(benchlib.warmup * 100))
	local c0, t0, cpu0 = count(), skynet.hpc(), both_cpu()
	skynet.sleep(math.floor(benchlib.seconds * 100))
	local c1, t1, cpu1 = count(), skynet.hpc(), both_cpu()
	local n = c1 - c0
	local rate = n / ((t1 - t0) / 1e9)
	return rate, n > 0 and benchlib.ticks_to_ns(cpu1 - cpu0) / n or 0
end

-- ncoroutines loops of f() until stopped; returns rate, cpu ns per op.
local function loops(ncoroutines, f)
	local done, running, alive = 0, true, ncoroutines
	local main = {}
	for _ = 1, ncoroutines do
		skynet.fork(function()
			while running do
				f()
				done = done + 1
			end
			alive = alive - 1
			if alive == 0 then skynet.wakeup(main) end
		end)
	end
	local rate, cpu = window(function() return done end)
	running = false
	skynet.wait(main)
	return rate, cpu
end

-- ti: nil for cluster.call, else cluster.call_timeout(ti, ...) (a deadline
-- that never fires: its cost is the difference of the two rates)
local function call_case(n, ti)
	local i = 0
	local rate, cpu = loops(n, function()
		i = i + 1
		local v = i
		local r
		if ti then
			r = cluster.call_timeout(ti, NODE, TARGET, "echo", v)
		else
			r = cluster.call(NODE, TARGET, "echo", v)
		end
		if r ~= v then error("bench_cluster: echo answered " .. tostring(r) .. ", not " .. v) end
	end)
	local name = (ti and "cluster_call_timeout_co" or "cluster_call_co") .. n
	benchlib.metric(name .. "_calls_per_s", rate, "call/s")
	benchlib.metric(name .. "_cpu_ns_per_call", cpu, "ns")
end

local function send_case()
	local sent_at_barrier = 0
	local running, finished = true, {}
	skynet.fork(function()
		while running do
			for i = 1, 1000 do
				cluster.send(NODE, TARGET, "push", i)
			end
			sent_at_barrier = cluster.call(NODE, TARGET, "count")
		end
		skynet.wakeup(finished)
	end)
	local rate, cpu = window(function() return sent_at_barrier end)
	running = false
	skynet.wait(finished)
	benchlib.metric("cluster_send_msgs_per_s", rate, "msg/s")
	benchlib.metric("cluster_send_cpu_ns_per_msg", cpu, "ns")
end

local function payload_cases()
	local MiB = 1024 * 1024
	local blob = string.rep("r", MiB)
	local rate = loops(1, function()
		local n = cluster.call(NODE, TARGET, "size", blob)
		if n ~= MiB then error("bench_cluster: 1 MiB request arrived as " .. tostring(n)) end
	end)
	benchlib.metric("cluster_req_1mib_mib_per_s", rate, "MiB/s")
	rate = loops(1, function()
		local s = cluster.call(NODE, TARGET, "blob", MiB)
		if #s ~= MiB then error("bench_cluster: 1 MiB response arrived as " .. #s) end
	end)
	benchlib.metric("cluster_resp_1mib_mib_per_s", rate, "MiB/s")
end

-- The port the server node wrote (it starts first; give it 10 s).
local function server_port()
	local path = assert(skynet.getenv "bench_cluster_portfile", "bench_cluster_portfile not set")
	for _ = 1, 200 do
		local f = io.open(path)
		if f then
			local port = tonumber(f:read "l")
			f:close()
			if port then return port end
		end
		skynet.sleep(5)
	end
	error("bench_cluster: the server node did not write its port to " .. path)
end

skynet.start(function()
	benchlib.guard "cluster"
	cluster.reload { [NODE] = "127.0.0.1:" .. server_port() }
	call_case(1)
	call_case(1, 3000)
	call_case(64)
	call_case(64, 3000)
	send_case()
	payload_cases()
	cluster.call(NODE, TARGET, "quit")
	benchlib.finish()
end)
