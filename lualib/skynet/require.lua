-- skynet/require.lua -- skynet.require, installed as the global `require`
-- of every service by lualib/loader.lua, and the skynet.init bookkeeping.
--
-- From the main thread (a service's top-level code) it is Lua's require.
-- From a coroutine it loads the module inside that coroutine, so the
-- module's body may block (call, sleep); another coroutine requiring the
-- same module meanwhile waits for it, and a wait that would close a cycle
-- raises "circular dependency".  That part lives in skynet/require_co.lua,
-- loaded the first time it is needed.  Functions passed to skynet.init
-- while a module loads in a coroutine run right after its body; those
-- registered during top-level loading run (init_all) before the start
-- function.

local lua_require = require
local loaded = package.loaded
local co_running = coroutine.running

local M = {
	lua_require = lua_require, -- the plain require, for modules that never block
	collecting = {},           -- coroutine -> init list of the module it is loading
}

local main_inits = {} -- skynet.init functions queued before the service starts

function M.init(f)
	local list = M.collecting[co_running()]
	if list then
		list[#list + 1] = f
	elseif main_inits then
		main_inits[#main_inits + 1] = f
	else
		f() -- the service has started: run it now
	end
end

function M.init_all()
	local list = main_inits
	main_inits = nil
	if list then
		for i = 1, #list do
			list[i]()
		end
	end
end

function M.require(name)
	local m = loaded[name]
	if m ~= nil then
		return m
	end
	local co, main = co_running()
	if main then
		return lua_require(name)
	end
	return lua_require "skynet.require_co" (M, name, co)
end

return M
