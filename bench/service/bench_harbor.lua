-- bench_harbor.lua -- start service of the `harbor` scenario, node 1
-- (harbor = 1, also running the standalone master).
--
-- Writes the file bench_ready (run.sh then starts node 2, whose
-- bench_harbor_server registers a bench_cluster_target as the global name
-- "bench_echo"), resolves the name with harbor.queryname and measures
-- against the handle, so every message crosses both harbor services and
-- their TCP connection:
--   harbor_call_co1 / _co64   skynet.call round trips per second from 1 and
--                             64 coroutines of this service
--   harbor_send               skynet.send messages per second, in batches of
--                             1,000 each followed by a skynet.call "count"
--                             barrier (same path: answered after the batch)
--   harbor_req_1mib           skynet.call with a 1 MiB string (MiB/s)
-- "cpu" figures are the CPU of BOTH nodes (node 2's read with a call) over
-- the window, per operation.

local skynet = require "skynet"
local harbor = require "skynet.harbor"
local benchlib = require "benchlib"

local target

local function both_cpu()
	return benchlib.cpu_ticks() + skynet.call(target, "lua", "cpu")
end

local function window(count)
	skynet.sleep(math.floor(benchlib.warmup * 100))
	local c0, t0, cpu0 = count(), skynet.hpc(), both_cpu()
	skynet.sleep(math.floor(benchlib.seconds * 100))
	local c1, t1, cpu1 = count(), skynet.hpc(), both_cpu()
	local n = c1 - c0
	return n / ((t1 - t0) / 1e9), n > 0 and benchlib.ticks_to_ns(cpu1 - cpu0) / n or 0
end

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

local function call_case(n)
	local i = 0
	local rate, cpu = loops(n, function()
		i = i + 1
		local v = i
		local r = skynet.call(target, "lua", "echo", v)
		if r ~= v then error("bench_harbor: echo answered " .. tostring(r) .. ", not " .. v) end
	end)
	benchlib.metric("harbor_call_co" .. n .. "_calls_per_s", rate, "call/s")
	benchlib.metric("harbor_call_co" .. n .. "_cpu_ns_per_call", cpu, "ns")
end

local function send_case()
	local counted = 0
	local running, finished = true, {}
	skynet.fork(function()
		while running do
			for i = 1, 1000 do
				skynet.send(target, "lua", "push", i)
			end
			counted = skynet.call(target, "lua", "count")
		end
		skynet.wakeup(finished)
	end)
	local rate, cpu = window(function() return counted end)
	running = false
	skynet.wait(finished)
	benchlib.metric("harbor_send_msgs_per_s", rate, "msg/s")
	benchlib.metric("harbor_send_cpu_ns_per_msg", cpu, "ns")
end

local function payload_case()
	local MiB = 1024 * 1024
	local blob = string.rep("r", MiB)
	local rate = loops(1, function()
		local n = skynet.call(target, "lua", "size", blob)
		if n ~= MiB then error("bench_harbor: 1 MiB request arrived as " .. tostring(n)) end
	end)
	benchlib.metric("harbor_req_1mib_mib_per_s", rate, "MiB/s")
end

skynet.start(function()
	benchlib.guard "harbor"
	local ready = assert(skynet.getenv "bench_ready", "bench_ready not set")
	local f = assert(io.open(ready, "w"))
	f:close()
	target = harbor.queryname "bench_echo"
	call_case(1)
	call_case(64)
	send_case()
	payload_case()
	skynet.call(target, "lua", "quit")
	benchlib.finish()
end)
