-- Cluster PingPong, node2: ./skynet examples/Pconfig.c2
-- Joins the cluster and waits for node1 to start the game.
local skynet = require "skynet"
local Pcluster = require "Pcluster"

skynet.start(function()
	skynet.error("[Pmain] node2 start")
	Pcluster.join("node2", "node1")
end)
