-- svc_loader.lua -- helper for test_loader: reports what the loader set up.
local skynet = require "skynet"
local args = table.pack(...)
local info = {
	name = SERVICE_NAME,
	path = SERVICE_PATH,
	package_path = package.path,
	package_cpath = package.cpath,
	lua_globals = { LUA_PATH, LUA_CPATH, LUA_SERVICE, LUA_PRELOAD },
	require_replaced = require == (require "skynet.require").require,
	args = args,
}
skynet.start(function()
	skynet.dispatch("lua", function() skynet.retpack(info) end)
end)
