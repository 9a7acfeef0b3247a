-- Pcluster.lua -- what Pmain_c1.lua and Pmain_c2.lua share: join the
-- cluster of the notes (section 七) and put a ping service on the table.
--
-- examples/ping.lua answers every "ping" with skynet.send(source, ...), so a
-- ping on the other node must look like a local service here.  A proxy
-- (cluster.proxy) is such a local stand-in for a service on another node;
-- the main service registers itself as "@relay" and hands every message
-- arriving from the other node to the local ping *as if it came from the
-- proxy of the other node's relay* (skynet.redirect keeps the payload and
-- lets us choose the source).  The answer then goes back through that proxy.
local skynet = require "skynet"
local cluster = require "skynet.cluster"

local M = {}

-- Joins the cluster as `me`, starts a ping, and relays messages from
-- `other` to it.  Returns the ping service and the proxy for `other`.
function M.join(me, other)
	cluster.reload {
		node1 = "127.0.0.1:7001",
		node2 = "127.0.0.1:7002",
	}
	cluster.open(me)
	local ping = skynet.newservice("ping")
	local peer = cluster.proxy(other, "@relay")
	skynet.dispatch("lua", function(_, _, ...)
		skynet.redirect(ping, peer, "lua", 0, skynet.pack(...))
	end)
	cluster.register("relay")
	return ping, peer
end

-- Waits until node `other` answers a name query for its relay.
function M.wait(other)
	while not pcall(cluster.query, other, "relay") do
		skynet.error("[Pmain] waiting for " .. other .. " (start it in another terminal)")
		skynet.sleep(100)
	end
end

return M
