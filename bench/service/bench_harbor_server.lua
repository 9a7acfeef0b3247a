-- bench_harbor_server.lua -- node 2 (harbor = 2) of the `harbor` scenario:
-- starts a bench_cluster_target and registers it as the global name
-- "bench_echo"; node 1 (bench_harbor.lua) measures against it and ends
-- this node by calling "quit".

local skynet = require "skynet"
local harbor = require "skynet.harbor"
local benchlib = require "benchlib"

skynet.start(function()
	benchlib.guard "harbor_server"
	local target = skynet.newservice "bench_cluster_target"
	harbor.globalname("bench_echo", target)
end)
