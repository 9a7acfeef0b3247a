-- clusterproxy: a local stand-in for a service on another node
-- (what cluster.proxy returns).  Launched by clusterd as
--   clusterproxy <node> <name> <clusterd>
--
-- Every "lua" (or "snax") message sent to the proxy is forwarded, payload
-- unchanged, to the node's clustersender as an internal request addressed
-- to <name>, keeping the original source and session (skynet.redirect).
-- The sender therefore answers the original caller directly: a
-- skynet.call(proxy, "lua", ...) becomes a cluster request, a skynet.send a
-- push, and the proxy never waits for anything.

local skynet = require "skynet"
local c = require "skynet.core"
local core = require "skynet.cluster.core"

local node, name, clusterd = ...
name = tonumber(name) or name
clusterd = tonumber(clusterd)

local PTYPE_CLUSTER_REQ = 249
local PTYPE_LUA, PTYPE_SNAX, PTYPE_TRACE = skynet.PTYPE_LUA, skynet.PTYPE_SNAX, skynet.PTYPE_TRACE
local packfast, redirect = core.packfast, c.redirect
local sender

local dispatch_message = skynet.dispatch_message

local function dispatch(ptype, msg, sz, session, source)
	if (ptype == PTYPE_LUA or ptype == PTYPE_SNAX) and sender then
		local f, n = packfast(name, msg, sz, true)
		redirect(sender, source, PTYPE_CLUSTER_REQ, session, f, n)
	elseif ptype == PTYPE_TRACE and sender then -- trace tag of the next request
		redirect(sender, source, PTYPE_TRACE, 0, c.tostring(msg, sz))
	else
		dispatch_message(ptype, msg, sz, session, source)
	end
end

skynet.start(function()
	local s, err = skynet.call(clusterd, "lua", "sender", node)
	if not s then
		error(err, 0)
	end
	sender = s
end)
c.callback(dispatch)
