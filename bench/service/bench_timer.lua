-- bench_timer.lua -- start service of the `timer` scenario.
--
-- Sets `bench_count` (default 10000) skynet.timeout timers and records for
-- each how late it fired: lateness = fire time - (creation time + delay *
-- 10 ms), all in skynet.hpc nanoseconds.  Skynet time advances in 10 ms
-- ticks, so a timer created part-way through a tick may fire up to one
-- tick "early" by this measure (values down to about -10 ms are on time).
-- Two cases:
--   spread  delays spread evenly over 0.5 .. 2.5 s (about 50 per tick)
--   burst   every timer due in the same tick, 0.5 s ahead
-- Metrics: timer_<case>_late_{p50,p99,max}_ms.

local skynet = require "skynet"
local benchlib = require "benchlib"

local function run_case(name, count, delay_of)
	local late = {}
	local fired = 0
	local main = {}
	for i = 1, count do
		local delay = delay_of(i)
		local due = skynet.hpc() + delay * 10000000
		skynet.timeout(delay, function()
			late[i] = skynet.hpc() - due
			fired = fired + 1
			if fired == count then
				skynet.wakeup(main)
			end
		end)
	end
	skynet.wait(main)
	table.sort(late)
	local prefix = "timer_" .. name .. "_late_"
	benchlib.metric(prefix .. "p50_ms", benchlib.percentile(late, 0.50) / 1e6, "ms")
	benchlib.metric(prefix .. "p99_ms", benchlib.percentile(late, 0.99) / 1e6, "ms")
	benchlib.metric(prefix .. "max_ms", late[#late] / 1e6, "ms")
end

skynet.start(function()
	benchlib.guard "timer"
	local count = tonumber(skynet.getenv "bench_count") or 10000
	run_case("spread", count, function(i)
		return 50 + (i - 1) * 200 // count -- 50 .. 249 ticks
	end)
	run_case("burst", count, function()
		return 50
	end)
	benchlib.finish()
end)
