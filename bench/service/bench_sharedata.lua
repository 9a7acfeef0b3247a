-- bench_sharedata.lua -- start service of the `sharedata` scenario (the
-- bench kit's workload): a 10,000-entry config table as Lua source, loaded
-- with skynet.sharetable (bench_share_impl = sharedata: skynet.sharedata),
-- then 100 reader services (bench_share_reader) query it at the same time,
-- then each reads every entry once.  Metrics, prefixed by the library:
--   _load_ms             load (source compiled and run in the library's service)
--   _query_ms            wall time until all 100 readers have their first query
--   _query_each_p50_ms   median query time inside a reader
--   _scan_ms             wall time until all 100 readers read every entry once
--   _load_rss_kb         node RSS added by the load
--   _reader_rss_kb       RSS per reader service (its launch and its query)
--   _query_rss_kb        RSS per reader added by the query alone
--   _reader_rss_scanned_kb   per reader after the scan
local skynet = require "skynet"
local benchlib = require "benchlib"

local NAME = "bench_config"

skynet.start(function()
	benchlib.guard "sharedata"
	local impl = skynet.getenv "bench_share_impl" or "sharetable"
	local n = tonumber(skynet.getenv "bench_share_entries") or 10000
	local nreaders = tonumber(skynet.getenv "bench_share_readers") or 100
	local lib = require("skynet." .. impl)
	local p = impl

	local parts = { "return {\n" }
	for i = 1, n do
		parts[#parts + 1] = string.format(
			'[%d] = { id = %d, name = "item_%d", level = %d, price = %d, weight = %.1f, tags = { "t%d", "t%d" } },\n',
			i, i, i, i % 100, i * 7, i / 10, i % 7, i % 13)
	end
	parts[#parts + 1] = "}\n"
	local src = table.concat(parts)
	parts = nil
	benchlib.metric(p .. "_entries", n, "entries")
	benchlib.metric(p .. "_source_kb", #src / 1024, "kB")

	if impl == "sharetable" then
		local _ = lib.address -- start the service before timing
	end
	collectgarbage()
	local rss_a = benchlib.rss_kb()
	local t0 = skynet.hpc()
	if impl == "sharetable" then
		lib.loadstring(NAME, src)
	else
		lib.new(NAME, src)
	end
	benchlib.metric(p .. "_load_ms", (skynet.hpc() - t0) / 1e6, "ms")
	src = nil
	collectgarbage()
	skynet.sleep(20)
	local rss_b = benchlib.rss_kb()

	local readers = {}
	for i = 1, nreaders do
		readers[i] = skynet.newservice("bench_share_reader", impl)
	end
	skynet.sleep(20)
	local rss1 = benchlib.rss_kb()

	local function all(cmd)
		local left, co, replies = nreaders, coroutine.running(), {}
		local ts = skynet.hpc()
		for i = 1, nreaders do
			skynet.fork(function()
				replies[i] = skynet.call(readers[i], "lua", cmd, NAME, n)
				left = left - 1
				if left == 0 then
					skynet.wakeup(co)
				end
			end)
		end
		skynet.wait()
		return (skynet.hpc() - ts) / 1e9, replies
	end

	local tq, each = all "query"
	table.sort(each)
	benchlib.metric(p .. "_query_ms", tq * 1000, "ms")
	benchlib.metric(p .. "_query_each_p50_ms", benchlib.percentile(each, 0.5) * 1000, "ms")
	skynet.sleep(20)
	local rss2 = benchlib.rss_kb()
	local ts, sums = all "scan"
	local want_sum = 7 * n * (n + 1) // 2
	for i = 1, nreaders do
		assert(sums[i] == want_sum, "scan: wrong sum")
	end
	benchlib.metric(p .. "_scan_ms", ts * 1000, "ms")
	skynet.sleep(20)
	local rss3 = benchlib.rss_kb()
	benchlib.metric(p .. "_load_rss_kb", rss_b - rss_a, "kB")
	benchlib.metric(p .. "_reader_rss_kb", (rss2 - rss_b) / nreaders, "kB")
	benchlib.metric(p .. "_query_rss_kb", (rss2 - rss1) / nreaders, "kB")
	benchlib.metric(p .. "_reader_rss_scanned_kb", (rss3 - rss_b) / nreaders, "kB")
	for i = 1, nreaders do
		skynet.send(readers[i], "lua", "exit")
	end
	skynet.sleep(10)
	benchlib.finish()
end)
