-- metrics_main.lua -- the start service of test/e2e/test_metrics.sh: a
-- node with something to watch.  Starts
--   * 30 idle services (`metrics_worker idle <i>`),
--   * one busy service (`metrics_worker busy`) that sends itself messages
--     without pause and burns a little CPU on each, so counters grow,
--   * one service holding ~4 MB of Lua memory (`metrics_worker hog`),
--   * a cluster listener on this very node (config `metrics_cluster_port`)
--     called through the cluster every 50 ms, so a cluster peer ("self")
--     is connected and its call latency is measured,
--   * an application series published through skynet.metrics,
--   * `metrics_worker waiter` (4 tasks) and two `metrics_worker jam`,
--     each holding a worker until the test writes to its named pipe
--     (config metrics_jam_fifo .. 1 and 2), with 1,000 and 300 messages
--     queued behind them: the node's two longest mailboxes.
-- Logs "metrics_main: ready" once all of that runs.
local skynet = require "skynet"
local cluster = require "skynet.cluster"
local metrics = require "skynet.metrics"

skynet.start(function()
	for i = 1, 30 do
		skynet.newservice("metrics_worker", "idle", i)
	end
	skynet.newservice("metrics_worker", "busy")
	skynet.newservice("metrics_worker", "hog")
	local echo = skynet.newservice("metrics_worker", "echo")
	local waiter = skynet.newservice("metrics_worker", "waiter")
	local fifo = assert(skynet.getenv "metrics_jam_fifo")
	local jam = { skynet.newservice("metrics_worker", "jam", fifo .. "1"), skynet.newservice("metrics_worker", "jam", fifo .. "2") }
	for k, n in ipairs { 1000, 300 } do
		skynet.send(jam[k], "lua", "jam")
		for i = 1, n do skynet.send(jam[k], "lua", "queued", i) end
	end
	skynet.error("metrics_main: waiter " .. skynet.address(waiter) .. " jam " .. skynet.address(jam[1]) .. " " .. skynet.address(jam[2]))

	local cport = assert(skynet.getenv "metrics_cluster_port")
	cluster.reload { self = "127.0.0.1:" .. cport }
	cluster.open "self"
	cluster.register("echo", echo)

	local id = assert(metrics.series("metrics_test_events_total", "counter", "Events of the test node.", { kind = "tick" }))
	local bad, err = metrics.series("bad name", "counter")
	skynet.error("metrics_main: bad name refused: " .. tostring(bad == nil and err ~= nil))
	skynet.fork(function()
		while true do
			assert(cluster.call("self", "@echo", "ping") == "pong")
			metrics.add(id, 1)
			skynet.sleep(5)
		end
	end)
	skynet.error("metrics_main: ready")
end)
