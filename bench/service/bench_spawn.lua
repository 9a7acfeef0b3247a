-- bench_spawn.lua -- start service of the `spawn` scenario.
--
-- Launches `bench_count` (default 5000) bench_trivial services one after
-- the other with skynet.newservice, after one warm-up launch so that the
-- service code is already cached.  Reports the time taken, the launch rate,
-- the CPU per launch and the resident memory each live service adds
-- (VmRSS after a short settle sleep, minus VmRSS before).

local skynet = require "skynet"
local benchlib = require "benchlib"

skynet.start(function()
	benchlib.guard "spawn"
	local count = tonumber(skynet.getenv "bench_count") or 5000
	local warm = skynet.newservice "bench_trivial"
	skynet.call(warm, "lua", "quit")
	skynet.sleep(20)
	local rss_before = benchlib.rss_kb()
	local cpu_before = benchlib.cpu_ticks()
	local t0 = skynet.hpc()
	local services = {}
	for i = 1, count do
		services[i] = skynet.newservice "bench_trivial"
	end
	local t1 = skynet.hpc()
	local cpu_after = benchlib.cpu_ticks()
	skynet.sleep(20)
	local rss_after = benchlib.rss_kb()
	local secs = (t1 - t0) / 1e9
	benchlib.metric("spawn_total_s", secs, "s")
	benchlib.metric("spawn_services_per_s", count / secs, "svc/s")
	benchlib.metric("spawn_cpu_us_per_service", benchlib.ticks_to_ns(cpu_after - cpu_before) / 1e3 / count, "us")
	benchlib.metric("spawn_rss_per_service_kb", (rss_after - rss_before) / count, "kB")
	-- Every service must still answer: a launch that "succeeded" but left a
	-- dead service would make the figures above meaningless.
	local alive = 0
	for _, s in ipairs(services) do
		if skynet.call(s, "lua", "ping") == "ping" then alive = alive + 1 end
	end
	if alive ~= count then
		benchlib.note(string.format("spawn: only %d of %d services answered", alive, count))
	end
	benchlib.finish()
end)
