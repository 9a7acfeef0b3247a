-- skynet/sharedata.lua -- read-only data shared by every service, pushed to
-- readers on update.
--
--   sharedata.new(name, value, ...)     value: table, Lua source, "@file" or nil
--   sharedata.update(name, value, ...)  new version (creates name if needed)
--   sharedata.delete(name)
--   sharedata.query(name) -> obj        read-only proxy, switches to new versions by itself
--   sharedata.deepcopy(name, k1, ...)   plain copy of the data (or of obj[k1][k2]...)
--   sharedata.flush()                   switch every object now, collect garbage
--
-- sharedatad builds each version once into C memory (lualib-src/sharetree.c);
-- every reader reads that copy through proxies (skynet/sharedata/corelib.lua).
-- Per queried name a reader keeps one coroutine waiting in sharedatad for
-- the next version ("monitor"); it switches the object when one arrives.

local skynet = require "skynet"
local corelib = require "skynet.sharedata.corelib"
local core = require "skynet.sharedata.core"

local service

skynet.init(function()
	service = skynet.uniqueservice "sharedatad"
end)

local sharedata = {}
local cache = setmetatable({}, { __mode = "kv" }) -- name -> obj
local current = setmetatable({}, { __mode = "k" }) -- obj -> its document (for monitor)

local function call(...)
	assert(service, "sharedata: use it after skynet.init ran (inside skynet.start)")
	return skynet.call(service, "lua", ...)
end

-- Waits for each next version of name while obj is alive (held weakly, so
-- an object nobody uses can be collected; its monitor ends at the next update).
local function monitor(name, ref)
	while true do
		local obj = ref[1]
		if obj == nil then
			return
		end
		local doc = current[obj]
		obj = nil
		local newdoc = call("monitor", name, doc)
		obj = ref[1]
		if newdoc == nil then -- deleted: holders keep the last version, query fails
			if obj ~= nil and cache[name] == obj then
				cache[name] = nil
			end
			return
		end
		if obj == nil or cache[name] ~= obj then
			core.release(newdoc)
			return
		end
		if newdoc == current[obj] then
			core.release(newdoc)
		else
			current[obj] = newdoc
			corelib.update(obj, newdoc)
		end
	end
end

function sharedata.query(name)
	local obj = cache[name]
	if obj then
		return obj
	end
	local doc = call("query", name)
	obj = cache[name] -- another coroutine may have been quicker
	if obj then
		core.release(doc)
		return obj
	end
	obj = corelib.new(doc)
	cache[name] = obj
	current[obj] = doc
	skynet.fork(monitor, name, setmetatable({ obj }, { __mode = "v" }))
	return obj
end

function sharedata.new(name, v, ...)
	call("new", name, v, ...)
end

function sharedata.update(name, v, ...)
	call("update", name, v, ...)
end

function sharedata.delete(name)
	call("delete", name)
end

function sharedata.flush()
	for name, obj in pairs(cache) do
		local ok, doc = pcall(call, "query", name)
		if ok then
			if doc == current[obj] then
				core.release(doc)
			else
				current[obj] = doc
				corelib.update(obj, doc)
			end
		end
	end
	collectgarbage()
end

local function walk(node, ...)
	for i = 1, select("#", ...) do
		local k = select(i, ...)
		local v = core.index(node, k)
		if v == nil then
			return
		elseif type(v) ~= "userdata" then
			if i == select("#", ...) then
				return true, v
			end
			return
		end
		node = v
	end
	return true, core.copy(node)
end

function sharedata.deepcopy(name, ...)
	local obj = cache[name]
	if obj then
		local ok, v = walk(corelib.node(obj), ...)
		if ok then
			return v
		end
		return
	end
	local doc = call("query", name)
	local b = core.box(doc) -- released by the collector
	local ok, v = walk(core.root(b), ...)
	if ok then
		return v
	end
end

return sharedata
