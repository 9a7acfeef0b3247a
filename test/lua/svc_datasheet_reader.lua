-- svc_datasheet_reader.lua -- a reader (and, when asked, builder) service
-- for test_datasheet.lua.
--   eval(code) -> ok, results...   runs code with `datasheet`, `builder`,
--                                  `core`, `skynet` and H, a table that
--                                  keeps what the code stores
--   exit                           answers, then exits
local skynet = require "skynet"
local datasheet = require "skynet.datasheet"
local builder = require "skynet.datasheet.builder"
local core = require "skynet.datasheet.core"

local H = {}
local env = setmetatable({ datasheet = datasheet, builder = builder, core = core, skynet = skynet, H = H },
	{ __index = _ENV })

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, code)
		if cmd == "exit" then
			skynet.ret()
			skynet.exit()
			return
		end
		local f = assert(load(code, "=eval", "t", env))
		skynet.retpack(pcall(f))
	end)
end)
