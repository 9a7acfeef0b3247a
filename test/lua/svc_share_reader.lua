-- svc_share_reader.lua -- a reader service for the shared-data tests.
-- Argument: "sharedata" or "sharetable": the library named `lib` (both are
-- loaded, as `sharedata` and `sharetable`, so the memory test counts their
-- code before it measures).
--   eval(code) -> ok, results...   runs code with those globals plus H, a
--                                  table that keeps what the code stores
local skynet = require "skynet"

local impl = ...
local sharedata = require "skynet.sharedata"
local sharetable = require "skynet.sharetable"
local lib = impl == "sharedata" and sharedata or sharetable
local H = {}
local env = setmetatable({ lib = lib, H = H, skynet = skynet, sharedata = sharedata, sharetable = sharetable },
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
