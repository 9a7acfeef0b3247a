-- bench_call.lua -- start service of the `call` scenario.
--
-- Measures skynet.call round trips against one bench_callee, first from a
-- single coroutine, then from 64 coroutines started with skynet.fork, all
-- in this service.  A round trip counts when the reply has been received.
-- Metrics: call_coN_calls_per_s, call_coN_cpu_ns_per_call, and the same
-- as call_timeout_coN_* for skynet.call_timeout(3000, ...) (a deadline that
-- never fires: its cost is the difference of the two).

local skynet = require "skynet"
local benchlib = require "benchlib"

local function run_case(callee, ncoroutines, ti)
	local done = 0
	local running = true
	local alive = ncoroutines
	local main = {}
	for c = 1, ncoroutines do
		skynet.fork(function()
			local i = 0
			while running do
				i = i + 1
				local echoed
				if ti then
					echoed = skynet.call_timeout(ti, callee, "lua", "echo", i)
				else
					echoed = skynet.call(callee, "lua", "echo", i)
				end
				if echoed ~= "echo" then
					error("bench_call: callee answered " .. tostring(echoed))
				end
				done = done + 1
			end
			alive = alive - 1
			if alive == 0 then
				skynet.wakeup(main)
			end
		end)
	end
	local rate, cpu_ns = benchlib.measure(function() return done end)
	running = false
	skynet.wait(main)
	local name = (ti and "call_timeout_co" or "call_co") .. ncoroutines
	benchlib.metric(name .. "_calls_per_s", rate, "call/s")
	benchlib.metric(name .. "_cpu_ns_per_call", cpu_ns, "ns")
end

skynet.start(function()
	benchlib.guard "call"
	local callee = skynet.newservice "bench_callee"
	for _, n in ipairs { 1, 64 } do
		run_case(callee, n)
		run_case(callee, n, 3000)
	end
	skynet.call(callee, "lua", "quit")
	benchlib.finish()
end)
