-- test_profile.lua -- skynet.profile (service-src/snlua_profile.c):
-- start/stop of the running coroutine and of another one, time while
-- suspended left out, start inside a coroutine, several coroutines profiled
-- at once, a timer reused after stop, the error paths, and a profiled
-- coroutine dropped without stop.  Times are only compared with bounds a
-- slow machine keeps (suspended for 300 ms, counted well under 150 ms).
local skynet = require "skynet"
local profile = require "skynet.profile"
local T = require "testlib"

-- Runs for about `ms` milliseconds of wall time.
local function spin(ms)
	local stop = skynet.hpc() + ms * 1000000
	local n = 0
	while skynet.hpc() < stop do
		n = n + 1
	end
	return n
end

local function running_coroutine()
	profile.start()
	spin(20)
	local t = profile.stop()
	T.ok("stop returns the seconds run, a float >= the 20 ms spun", math.type(t) == "float" and t >= 0.02,
		tostring(t))
	profile.start()
	skynet.sleep(30)
	t = profile.stop()
	T.ok("time suspended (sleep 300 ms) is left out", t < 0.15, tostring(t))
	profile.start()
	local t2 = profile.stop()
	T.ok("a second start after stop starts from zero", t2 < 0.15, tostring(t2))
	T.raises("stop without start", "Call profile.start() before profile.stop()", profile.stop)
	profile.start()
	T.raises("start twice", "start profile more than once", profile.start)
	profile.stop()
	T.raises("start of a non-coroutine", "coroutine expected", profile.start, 42)
end

local function other_coroutine()
	local co = coroutine.create(function()
		spin(20)
		coroutine.yield()
		spin(20)
	end)
	profile.start(co)
	coroutine.resume(co)
	skynet.sleep(30) -- co is suspended: not counted
	coroutine.resume(co)
	local t = profile.stop(co)
	T.ok("start(co) before co runs: its two 20 ms slices count, the 300 ms between do not",
		t >= 0.04 and t < 0.3, tostring(t))
	-- started inside the coroutine, which then yields
	local inner = coroutine.wrap(function()
		profile.start()
		spin(20)
		coroutine.yield()
		return profile.stop()
	end)
	inner()
	skynet.sleep(30)
	t = inner()
	T.ok("start inside a coroutine counts until its yield, not while it is suspended", t >= 0.02 and t < 0.3,
		tostring(t))
	-- two at once, resumed alternately
	local a = coroutine.create(function()
		for _ = 1, 3 do
			spin(10)
			coroutine.yield()
		end
	end)
	local b = coroutine.create(function()
		for _ = 1, 3 do
			coroutine.yield()
		end
	end)
	profile.start(a)
	profile.start(b)
	profile.start()
	for _ = 1, 3 do
		coroutine.resume(a)
		coroutine.resume(b)
	end
	local tb, ta, tself = profile.stop(b), profile.stop(a), profile.stop()
	T.ok("two coroutines profiled at once keep their own totals", ta >= 0.03 and tb < ta,
		string.format("a %f b %f", ta, tb))
	T.ok("the resuming coroutine's total includes what it resumed", tself >= ta, string.format("self %f a %f",
		tself, ta))
	-- a profiled coroutine dropped without stop
	local gone = coroutine.create(function() coroutine.yield() end)
	profile.start(gone)
	coroutine.resume(gone)
	gone = nil
	collectgarbage()
	collectgarbage()
	local later = coroutine.create(function() spin(5) end)
	profile.start(later)
	coroutine.resume(later)
	t = profile.stop(later)
	T.ok("profiling works after a profiled coroutine was collected", t >= 0.005, tostring(t))
end

T.run("test_profile", function()
	running_coroutine()
	other_coroutine()
end)
