-- skynet/service.lua -- services made from a Lua function.
--
--   service.new(name, mainfunc, ...) -> address   one per node per name
--   service.query(name) -> address                waits until it exists
--   service.close(name) -> boolean                kills it
--
-- mainfunc must have _ENV as its only upvalue: it is dumped and run as the
-- main chunk of a fresh `service_cell` service (with ...), and its
-- skynet.start function has run when new returns.  The unique service
-- `service_provider` keeps the names.

local skynet = require "skynet"

local service = {}
local cache = {}
local provider

local function get_provider()
	provider = provider or skynet.uniqueservice "service_provider"
	return provider
end

local function check(func)
	local info = debug.getinfo(func, "u")
	local upname = debug.getupvalue(func, 1)
	-- code cached without debug information (the framework's own library)
	-- has no upvalue names: its one upvalue is taken to be _ENV
	if info.nups > 1 or (info.nups == 1 and upname ~= "_ENV" and upname ~= "(no name)") then
		error("service.new: mainfunc must have _ENV as its only upvalue", 3)
	end
end

function service.new(name, mainfunc, ...)
	local p = get_provider()
	local addr, booting = skynet.call(p, "lua", "test", name)
	if not addr then
		if booting then
			addr = skynet.call(p, "lua", "query", name)
		else
			check(mainfunc)
			addr = skynet.call(p, "lua", "launch", name, string.dump(mainfunc), ...)
		end
	end
	cache[name] = addr
	return addr
end

function service.close(name)
	local addr = skynet.call(get_provider(), "lua", "close", name)
	if addr then
		cache[name] = nil
		skynet.kill(addr)
		return true
	end
	return false
end

function service.query(name)
	local addr = cache[name]
	if not addr then
		addr = skynet.call(get_provider(), "lua", "query", name)
		cache[name] = addr
	end
	return addr
end

return service
