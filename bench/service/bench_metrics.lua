-- bench_metrics.lua -- start service of the `metrics` scenario (the node
-- runs the metrics endpoint, config `metrics`).
--
-- With 10,000 idle services (bench_trivial) alive:
--   metrics_scrape_10k_ms          one GET /metrics over loopback, median of 9
--   metrics_collect_10k_ms         the node's own time for that snapshot
--                                  (skynet_metrics_collect_seconds), median
--   metrics_scrape_bytes           size of the answer
--   metrics_send_base_msgs_per_s   8 bench_pair pairs bouncing messages
--   metrics_send_scraping_msgs_per_s   the same while /metrics is scraped
--                                  once a second
--   metrics_send_slowdown_pct      100 * (1 - scraping / base)
--   metrics_scrape_cpu_pct         one worker's time taken by one
--                                  snapshot a second (collect_ms / 10)
-- The send windows alternate (base, scraping, three times each) and each
-- figure is the mean of its three windows, so drift of a shared machine
-- weighs on both sides alike.  On a busy 2-core machine the windows still
-- differ by several percent with no scraping at all: read the slowdown
-- together with metrics_scrape_cpu_pct, the share of one worker that the
-- scrapes themselves took (collection time x scrapes per second).

local skynet = require "skynet"
local socket = require "skynet.socket"
local benchlib = require "benchlib"

local port = assert(tonumber(skynet.getenv "bench_metrics_port"))

-- One GET /metrics; returns milliseconds, the body and the node's
-- collection time in ms.
local function scrape()
	local t0 = skynet.hpc()
	local fd = assert(socket.open("127.0.0.1", port))
	socket.write(fd, "GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
	local data = socket.readall(fd)
	socket.close(fd)
	local ms = (skynet.hpc() - t0) / 1e6
	local collect = tonumber(data:match("\nskynet_metrics_collect_seconds ([%d.]+)")) or 0
	return ms, #data, collect * 1000
end

local function median(t)
	table.sort(t)
	return t[(#t + 1) // 2]
end

local function send_window(sides, scraping)
	local function total()
		local sum = 0
		for _, s in ipairs(sides) do
			sum = sum + skynet.call(s, "lua", "count")
		end
		return sum
	end
	local running = scraping
	if scraping then
		skynet.fork(function()
			while running do
				scrape()
				skynet.sleep(100)
			end
		end)
	end
	local rate = benchlib.measure(total)
	running = false
	return rate
end

skynet.start(function()
	benchlib.guard "metrics"
	local n = tonumber(skynet.getenv "bench_count") or 10000
	for i = 1, n do
		skynet.newservice "bench_trivial"
	end
	scrape() -- warm
	local times, collects, size = {}, {}, 0
	for i = 1, 9 do
		local ms, sz, collect = scrape()
		times[#times + 1], collects[#collects + 1], size = ms, collect, sz
	end
	benchlib.metric("metrics_scrape_10k_ms", median(times), "ms")
	benchlib.metric("metrics_collect_10k_ms", median(collects), "ms")
	benchlib.metric("metrics_scrape_bytes", size, "bytes")

	local sides = {}
	for i = 1, 8 do
		local a = skynet.newservice "bench_pair"
		local b = skynet.newservice "bench_pair"
		sides[#sides + 1] = a
		sides[#sides + 1] = b
		skynet.call(a, "lua", "serve", b)
	end
	local base, busy = 0, 0
	for round = 1, 3 do
		base = base + send_window(sides, false) / 3
		busy = busy + send_window(sides, true) / 3
	end
	benchlib.metric("metrics_send_base_msgs_per_s", base, "msg/s")
	benchlib.metric("metrics_send_scraping_msgs_per_s", busy, "msg/s")
	benchlib.metric("metrics_send_slowdown_pct", 100 * (1 - busy / base), "%")
	benchlib.metric("metrics_scrape_cpu_pct", median(collects) / 10, "%")
	benchlib.finish()
end)
