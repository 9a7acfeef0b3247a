-- skynet/harbor.lua -- global names and harbor links, served by .cslave
-- (cdummy in single-node mode).

local skynet = require "skynet"

local harbor = {}

-- Registers a global name for handle (default: this service).
function harbor.globalname(name, handle)
	handle = handle or skynet.self()
	skynet.send(".cslave", "lua", "REGISTER", name, handle)
end

-- Address of a global name, blocking until it is registered; ".name" is
-- answered from the local name table.
function harbor.queryname(name)
	return skynet.call_timeout(0, ".cslave", "lua", "QUERYNAME", name)
end

-- Blocks until harbor id disconnects (returns at once when not connected).
function harbor.link(id)
	skynet.call_timeout(0, ".cslave", "lua", "LINK", id)
end

-- Blocks until harbor id is connected.
function harbor.connect(id)
	skynet.call_timeout(0, ".cslave", "lua", "CONNECT", id)
end

-- Blocks until the connection to the master is lost.
function harbor.linkmaster()
	skynet.call_timeout(0, ".cslave", "lua", "LINKMASTER")
end

return harbor
