-- bench_snax.lua -- start service of the `snax` scenario.
--
-- Round trips of obj.req.echo(i) to a snax service against plain
-- skynet.call(callee, "lua", "echo", i) to bench_callee, from one
-- coroutine, alternating the two in short rounds so both see the same
-- machine.  Metrics: snax_req_calls_per_s, snax_plain_call_calls_per_s,
-- snax_overhead_pct (how much slower a snax req is), and the process CPU
-- per round trip of each (snax_req_cpu_ns_per_call,
-- snax_plain_call_cpu_ns_per_call).
local skynet = require "skynet"
local snax = require "skynet.snax"
local benchlib = require "benchlib"

local ROUNDS = 6

local function run(f)
	local done, running = 0, true
	local main = {}
	skynet.fork(function()
		local i = 0
		while running do
			i = i + 1
			if f(i) ~= "echo" then
				error "bench_snax: bad answer"
			end
			done = done + 1
		end
		skynet.wakeup(main)
	end)
	skynet.sleep(math.floor(benchlib.warmup * 100 / ROUNDS))
	local a = benchlib.snapshot(function() return done end)
	skynet.sleep(math.floor(benchlib.seconds * 100 / ROUNDS))
	local b = benchlib.snapshot(function() return done end)
	running = false
	skynet.wait(main)
	local _, cpu_per_op, ops, secs = benchlib.window(a, b)
	return ops, secs, cpu_per_op * ops
end

skynet.start(function()
	benchlib.guard "snax"
	local callee = skynet.newservice "bench_callee"
	local obj = snax.newservice "bench_snaxsvc"
	local req = obj.req.echo
	local plain = { ops = 0, secs = 0, cpu = 0 }
	local sx = { ops = 0, secs = 0, cpu = 0 }
	local function add(acc, o, s, c)
		acc.ops, acc.secs, acc.cpu = acc.ops + o, acc.secs + s, acc.cpu + c
	end
	for _ = 1, ROUNDS do
		add(plain, run(function(i) return skynet.call(callee, "lua", "echo", i) end))
		add(sx, run(function(i) return req("echo", i) end))
	end
	local rp, rs = plain.ops / plain.secs, sx.ops / sx.secs
	benchlib.metric("snax_plain_call_calls_per_s", rp, "call/s")
	benchlib.metric("snax_req_calls_per_s", rs, "call/s")
	benchlib.metric("snax_overhead_pct", (rp / rs - 1) * 100, "%")
	-- CPU per round trip suffers less than the rates from other processes
	-- competing for the cores
	benchlib.metric("snax_plain_call_cpu_ns_per_call", plain.cpu / plain.ops, "ns")
	benchlib.metric("snax_req_cpu_ns_per_call", sx.cpu / sx.ops, "ns")
	skynet.call(callee, "lua", "quit")
	snax.kill(obj)
	benchlib.finish()
end)
