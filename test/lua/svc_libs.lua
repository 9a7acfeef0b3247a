-- svc_libs.lua -- reports, from a fresh service, how the lazily opened
-- standard libraries and skynet's lazy plain values behave (snlua_libs.c,
-- lua-sched.c).  Nothing here touches io/os/utf8/debug/math before asking.
local skynet = require "skynet"

local r = {}
r.utf8_before = rawget(_G, "utf8") == nil and package.loaded.utf8 == nil
r.utf8_char = utf8.char(72, 105)
r.utf8_after = rawget(_G, "utf8") ~= nil and package.loaded.utf8 == rawget(_G, "utf8")
r.require_os = require "os" == rawget(_G, "os") and type(os.time()) == "number"
r.g_metatable = type(getmetatable(_G))
r.ptype_before = rawget(skynet, "PTYPE_CLIENT")
r.ptype = skynet.PTYPE_CLIENT
r.ptype_after = rawget(skynet, "PTYPE_CLIENT")
-- a strict-mode metatable: the pending libraries are opened first
setmetatable(_G, { __index = function(_, k) error("undeclared global " .. tostring(k), 2) end })
r.strict_io = rawget(_G, "io") ~= nil and rawget(_G, "debug") ~= nil and rawget(_G, "math") ~= nil
r.strict_math = math.max(1, 2)
r.strict_undeclared = select(2, pcall(function() return no_such_global end))

skynet.start(function()
	skynet.dispatch("lua", function()
		skynet.retpack(r)
	end)
end)
