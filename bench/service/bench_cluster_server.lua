-- bench_cluster_server.lua -- the listening node of the `cluster` scenario.
--
-- Opens a cluster listener on 127.0.0.1 port 0 (any free port), registers
-- a bench_cluster_target as "@target", and writes the bound port to the
-- file named by config key bench_cluster_portfile, where the client node
-- (bench_cluster.lua) picks it up.  It ends when the client sends "quit"
-- to the target, which aborts this node.

local skynet = require "skynet"
local cluster = require "skynet.cluster"
local benchlib = require "benchlib"

skynet.start(function()
	benchlib.guard "cluster_server"
	local target = skynet.newservice "bench_cluster_target"
	cluster.register("target", target)
	local _, port = cluster.open(0)
	local path = assert(skynet.getenv "bench_cluster_portfile", "bench_cluster_portfile not set")
	local tmp = path .. ".tmp"
	local f = assert(io.open(tmp, "w"))
	f:write(tostring(port), "\n")
	f:close()
	assert(os.rename(tmp, path))
end)
