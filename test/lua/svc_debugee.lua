-- svc_debugee.lua -- helper for test_debug: has an info_func, a CMD table
-- reachable by debug RUN (_P.lua.CMD), a sleeping task, an extra debug
-- command.
local skynet = require "skynet"
local dbg = require "skynet.debug"

local CMD = { value = 1 }
function CMD.get() return CMD.value end
function CMD.sleep(ti) skynet.sleep(ti) return "slept" end

skynet.info_func(function(...) return { info = "debugee", n = select("#", ...) } end)
dbg.reg_debugcmd("HELLO", function(name) skynet.retpack("hello " .. tostring(name)) end)

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		skynet.retpack(CMD[cmd](...))
	end)
end)
