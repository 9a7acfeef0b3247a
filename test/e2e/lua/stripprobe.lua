-- Reports where debug information survives the code cache: framework
-- functions (lualib/) and this service's own functions.
local skynet = require "skynet"
require "skynet.manager"

local function mine() end

skynet.start(function()
	local fw = debug.getinfo(skynet.newservice, "S") -- a Lua function of lualib/skynet/ext.lua
	local own = debug.getinfo(mine, "Sl")
	skynet.error(string.format("stripprobe framework=%s own=%s:%d", fw.short_src, own.short_src, own.linedefined))
	skynet.abort()
end)
