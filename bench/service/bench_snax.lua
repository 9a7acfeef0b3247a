-- bench_snax.lua -- start service of the `snax` scenario.
--
-- Round trips of obj.req.echo(i) to a snax service against plain
-- skynet.call(callee, "lua", "echo", i) to bench_callee, from one
-- coroutine, alternating the two in short rounds so both see the same
-- machine.  Metrics: snax_req_calls_per_s, snax_plain_call_calls_per_s,
-- snax_overhead_pct (how much slower a snax req is).
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
	local _, _, ops, secs = benchlib.window(a, b)
	return ops, secs
end

skynet.start(function()
	benchlib.guard "snax"
	local callee = skynet.newservice "bench_callee"
	local obj = snax.newservice "bench_snaxsvc"
	local req = obj.req.echo
	local plain = { ops = 0, secs = 0 }
	local sx = { ops = 0, secs = 0 }
	for _ = 1, ROUNDS do
		local o, s = run(function(i) return skynet.call(callee, "lua", "echo", i) end)
		plain.ops, plain.secs = plain.ops + o, plain.secs + s
		o, s = run(function(i) return req("echo", i) end)
		sx.ops, sx.secs = sx.ops + o, sx.secs + s
	end
	local rp, rs = plain.ops / plain.secs, sx.ops / sx.secs
	benchlib.metric("snax_plain_call_calls_per_s", rp, "call/s")
	benchlib.metric("snax_req_calls_per_s", rs, "call/s")
	benchlib.metric("snax_overhead_pct", (rp / rs - 1) * 100, "%")
	skynet.call(callee, "lua", "quit")
	snax.kill(obj)
	benchlib.finish()
end)
