-- remote_probe.lua -- start service for test_remote_handle.sh: a node with
-- a debug console (config key console_port) and a cluster listener
-- (cluster_port), so that a raw TCP client and the console can address
-- handles of other harbors.  Logs "READY" when both listen.
local skynet = require "skynet"
local cluster = require "skynet.cluster"

skynet.start(function()
	skynet.newservice("debug_console", assert(tonumber(skynet.getenv "console_port")))
	cluster.open(assert(tonumber(skynet.getenv "cluster_port")))
	skynet.error("READY")
end)
