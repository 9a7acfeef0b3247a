-- snax_cluster_server.lua -- node b of test_snax_cluster.sh: starts the
-- node-unique snax_remote service and listens as cluster node b.
local skynet = require "skynet"
local snax = require "skynet.snax"
local cluster = require "skynet.cluster"

skynet.start(function()
	local obj = snax.uniqueservice("snax_remote", "from b")
	local named = snax.newservice("snax_remote", "named")
	cluster.register("named", named.handle)
	cluster.open "b"
	skynet.error("READY b " .. skynet.address(obj.handle))
end)
