-- bench_boot.lua -- start service of the `boot` scenario.
--
-- The first thing this service does is read the monotonic clock.  run.sh
-- (through bench/clockrun.c) passes the launch time of the node process in
-- the environment variable BENCH_T0_NS, on the same clock, so the
-- difference is the time from process start to the start service's first
-- line: core start-up, bootstrap, launcher and friends included.

local now_ns = require("skynet.core").hpc()
local skynet = require "skynet"
local benchlib = require "benchlib"

local rss = benchlib.rss_kb()

skynet.start(function()
	benchlib.guard "boot"
	local t0 = tonumber(os.getenv "BENCH_T0_NS" or "")
	if t0 then
		benchlib.metric("boot_to_start_ms", (now_ns - t0) / 1e6, "ms")
	else
		benchlib.note "boot: BENCH_T0_NS not set, boot time not measured"
	end
	benchlib.metric("boot_rss_kb", rss, "kB")
	benchlib.finish()
end)
