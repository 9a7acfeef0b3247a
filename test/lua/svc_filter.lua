-- svc_filter.lua -- helper: skynet.filter turns PTYPE_TEXT requests into
-- lua "text" commands and counts every message it sees.
local skynet = require "skynet"
require "skynet.manager"

local seen = 0

skynet.filter(function(ptype, msg, sz, session, source)
	seen = seen + 1
	if ptype == skynet.PTYPE_TEXT then
		local text = skynet.tostring(msg, sz)
		local m, n = skynet.pack("text", text)
		-- the rewritten message is ours: free it once dispatched
		skynet.timeout(0, function() skynet.trash(m, n) end)
		return skynet.PTYPE_LUA, m, n, session, source
	end
	return ptype, msg, sz, session, source
end, function()
	skynet.dispatch("lua", function(session, source, cmd, arg)
		if cmd == "seen" then
			skynet.retpack(seen)
		elseif cmd == "text" then
			skynet.retpack("filtered:" .. arg)
		end
	end)
end)
