-- test_loader.lua -- lualib/loader.lua: SERVICE_NAME, SERVICE_PATH, paths,
-- arguments; unknown request/response handlers.
local skynet = require "skynet"
local T = require "testlib"

T.run("test_loader", function()
	local s = skynet.newservice("svc_loader", "a", 12, "c")
	local info = skynet.call(s, "lua")
	T.eq("SERVICE_NAME", info.name, "svc_loader")
	T.eq("SERVICE_PATH", info.path, "./test/lua/")
	T.eq("package.path from lua_path", info.package_path, "./lualib/?.lua;./lualib/?/init.lua;./test/lua/?.lua")
	T.eq("package.cpath from lua_cpath", info.package_cpath, "./luaclib/?.so")
	T.eq("LUA_* globals cleared", #info.lua_globals, 0)
	T.eq("require is skynet.require", info.require_replaced, true)
	T.deq("arguments are strings", info.args, { "a", "12", "c", n = 3 })
	T.eq("own SERVICE_NAME", SERVICE_NAME, "test_loader")

	-- unknown response / request handlers
	local seen
	local old = skynet.dispatch_unknown_response(function(session, source, msg, sz)
		seen = { session, source, skynet.tostring(msg, sz) }
	end)
	T.eq("dispatch_unknown_response returns previous", type(old), "function")
	skynet.redirect(skynet.self(), skynet.self(), "response", 424242, "stray")
	T.waitfor(function() return seen end, 50)
	T.ok("unknown response handler", seen and seen[1] == 424242 and seen[3] == "stray")
	skynet.dispatch_unknown_response(old)
	local req
	skynet.dispatch_unknown_request(function(session, source, msg, sz, prototype)
		req = { prototype, skynet.tostring(msg, sz) }
	end)
	skynet.register_protocol { name = "p55", id = 55 } -- registered without dispatch
	skynet.rawsend(skynet.self(), "p55", "hi")
	T.waitfor(function() return req end, 50)
	T.ok("unknown request handler", req and req[1] == 55 and req[2] == "hi")
	T.eq("_proto by name", skynet._proto.lua.id, 10)
	T.eq("_proto by id", skynet._proto[10].name, "lua")
	T.eq("PTYPE_TRACE", skynet.PTYPE_TRACE, 12)
	T.raises("register_protocol twice", "already registered", skynet.register_protocol, { name = "lua", id = 10 })
	T.raises("register_protocol bad id", "0..255", skynet.register_protocol, { name = "bad", id = 256 })
	T.eq("dispatch returns current", type(skynet.dispatch "error"), "function")
	T.eq("dispatch of unknown protocol", skynet.dispatch "nosuch", nil)
	T.eq("skynet.pcall", skynet.pcall, pcall)
	T.ok("skynet.cache", type(skynet.cache) == "table" and type(skynet.cache.mode) == "function")
end)
