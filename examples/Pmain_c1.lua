-- Cluster PingPong, node1: ./skynet examples/Pconfig.c1
-- Waits for node2, then starts the game: the two ping services, one on each
-- node, bounce a counter across the cluster once a second.
local skynet = require "skynet"
local Pcluster = require "Pcluster"

skynet.start(function()
	skynet.error("[Pmain] node1 start")
	local ping, peer = Pcluster.join("node1", "node2")
	Pcluster.wait("node2")
	skynet.error("[Pmain] node2 is up, starting the game")
	skynet.send(ping, "lua", "start", peer)
end)
