-- bench_exit.lua -- start service of the `exit` scenario.
--
-- The figure itself (time from skynet.abort() to process exit) is computed
-- by run.sh: benchlib.finish() writes skynet.hpc() at the moment of the
-- abort to the file `bench_abort_mark`, and bench/clockrun.c reads the same
-- clock when the process has been reaped.  This service only prepares the
-- node state selected by `bench_case`:
--   idle    nothing but the standard services
--   loaded  `bench_count` idle bench_trivial services plus 8 ping-pong
--           pairs still bouncing messages at the moment of the abort

local skynet = require "skynet"
local benchlib = require "benchlib"

skynet.start(function()
	benchlib.guard "exit"
	if skynet.getenv "bench_case" == "loaded" then
		local count = tonumber(skynet.getenv "bench_count") or 1000
		for _ = 1, count do
			skynet.newservice "bench_trivial"
		end
		for _ = 1, 8 do
			local a = skynet.newservice "bench_pair"
			local b = skynet.newservice "bench_pair"
			skynet.call(a, "lua", "serve", b)
		end
	end
	skynet.sleep(20)
	benchlib.finish()
end)
