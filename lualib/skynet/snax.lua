-- skynet/snax.lua -- `require "skynet.snax"`: start, find and talk to snax
-- services.
--
-- A snax object is { type, handle, post, req }: obj.post.x(...) sends
-- PTYPE_SNAX `skynet.pack(id, ...)` to the accept method x, obj.req.x(...)
-- calls the response method x and returns its results.  The ids come from
-- evaluating the service file here too (snax.interface), in an environment
-- holding only a no-op `require` (or the module named by config key
-- `snax_interface_g`), so the file's top-level code must not need the
-- service's globals.
local skynet = require "skynet"
local interface = require "snax.interface"

local snax = {}

skynet.register_protocol {
	name = "snax",
	id = skynet.PTYPE_SNAX,
	pack = skynet.pack,
	unpack = skynet.unpack,
}

local send, call = skynet.send, skynet.call
local typeclass = {}                                  -- name -> interface table
local objects = setmetatable({}, { __mode = "v" })    -- handle -> object

local function interface_env()
	local gname = skynet.getenv "snax_interface_g"
	if gname then
		return (require(gname))
	end
	return { require = function() end }
end

-- snax.interface(name) -> { name, system, accept, response } (name -> id)
function snax.interface(name)
	local t = typeclass[name]
	if t then
		return t
	end
	local methods = interface(name, interface_env())
	t = { name = name, system = {}, accept = {}, response = {} }
	for _, m in ipairs(methods) do
		t[m[2]][m[3]] = m[1]
	end
	typeclass[name] = t
	return t
end

local function method_table(t, handle, group, verb, make)
	local ids = t[group]
	return setmetatable({}, {
		__index = function(cache, k)
			local id = ids[k]
			if id == nil then
				error(string.format("%s %s:%s no exist", verb, t.name, tostring(k)), 2)
			end
			local f = make(handle, id)
			cache[k] = f
			return f
		end,
	})
end

local function make_post(handle, id)
	return function(...)
		send(handle, "snax", id, ...)
	end
end

local function make_req(handle, id)
	return function(...)
		return call(handle, "snax", id, ...)
	end
end

local object_mt = {
	__tostring = function(obj)
		return string.format("[%s:%x]", obj.type, obj.handle)
	end,
}

-- snax.bind(handle, name): the (cached) object for an existing service.
function snax.bind(handle, name)
	local obj = objects[handle]
	if obj then
		if obj.type ~= name then
			error(string.format("snax.bind: %s is already bound as %s, not %s", skynet.address(handle), obj.type,
				tostring(name)), 2)
		end
		return obj
	end
	local t = snax.interface(name)
	obj = setmetatable({
		type = name,
		handle = handle,
		post = method_table(t, handle, "accept", "post", make_post),
		req = method_table(t, handle, "response", "request", make_req),
	}, object_mt)
	objects[handle] = obj
	return obj
end

-- Launches snaxd <name> and runs its init(...) (the init arguments travel
-- in the call, not on the launch line).  A service whose init raised is
-- killed before the error reaches the caller (upstream leaves it alive).
function snax.rawnewservice(name, ...)
	local t = snax.interface(name)
	local handle = skynet.newservice("snaxd", name)
	local ok, err = pcall(call, handle, "snax", t.system.init, ...)
	if not ok then
		require "skynet.manager"
		skynet.kill(handle)
		error(err, 0)
	end
	return handle
end

function snax.newservice(name, ...)
	return snax.bind(snax.rawnewservice(name, ...), name)
end

function snax.uniqueservice(name, ...)
	return snax.bind(skynet.uniqueservice("snaxd", name, ...), name)
end

function snax.globalservice(name, ...)
	return snax.bind(skynet.uniqueservice(true, "snaxd", name, ...), name)
end

function snax.queryservice(name)
	return snax.bind(skynet.queryservice("snaxd", name), name)
end

function snax.queryglobal(name)
	return snax.bind(skynet.queryservice(true, "snaxd", name), name)
end

-- Runs the service's exit(...), which then retires it.
function snax.kill(obj, ...)
	local t = snax.interface(obj.type)
	call(obj.handle, "snax", t.system.exit, ...)
end

function snax.self()
	return snax.bind(skynet.self(), SERVICE_NAME)
end

function snax.exit(...)
	snax.kill(snax.self(), ...)
end

-- snax.hotfix(obj, source, ...) -> the patch's hotfix(...) results; raises
-- the reason when the patch is refused (the service keeps its code).
function snax.hotfix(obj, source, ...)
	local t = snax.interface(obj.type)
	local r = table.pack(call(obj.handle, "snax", t.system.hotfix, source, ...))
	if not r[1] then
		error(r[2], 2)
	end
	return table.unpack(r, 2, r.n)
end

function snax.profile_info(obj)
	local t = snax.interface(obj.type)
	return call(obj.handle, "snax", t.system.profile)
end

function snax.printf(fmt, ...)
	skynet.error(string.format(fmt, ...))
end

return snax
