-- cluster_server.lua -- start service of a listening node in the cluster
-- e2e tests.  Config keys: cluster (the node map file), cluster_name (the
-- node name this node opens; with cluster_maxclient and cluster_port it
-- opens that port number with that maxclient instead).  Starts cluster_echo, registers it as
-- "@echo", names it ".echo", opens the node and logs "READY <name> <handle>".
local skynet = require "skynet"
require "skynet.manager"
local cluster = require "skynet.cluster"

skynet.start(function()
	local name = assert(skynet.getenv "cluster_name", "config key cluster_name missing")
	local echo = skynet.newservice("cluster_echo", name)
	skynet.name(".echo", echo)
	cluster.register("echo", echo)
	local maxclient = tonumber(skynet.getenv "cluster_maxclient")
	if maxclient then -- cluster.open(port, maxclient)
		local ip, port = cluster.open(assert(tonumber(skynet.getenv "cluster_port")), maxclient)
		skynet.error(string.format("LISTEN %s %d", ip, port))
	else
		cluster.open(name)
	end
	skynet.error(string.format("READY %s %d", name, echo))
end)
