-- skynet/sharetable.lua -- read-only tables shared by every service of a node.
--
--   sharetable.loadfile(filename, ...)      run the file, share what it returns, under the name filename
--   sharetable.loadstring(name, source, ...)
--   sharetable.loadtable(name, tbl)
--   sharetable.query(name) -> table | nil   the current version (same object while it is current)
--   sharetable.queryall(namelist?) -> { name = table }
--   sharetable.update(name, ...)            move this service's tables of older versions to the current one
--
-- The data lives once, in C (lualib-src/sharetree.c), built by the
-- `sharetable` service (a skynet.service); a reader gets proxy tables
-- (lualib-src/lua-sharetable.c) that read it in place.  A reload makes a new
-- version; tables a reader already holds stay on their version until it
-- calls update, which re-points them (see README, "Shared data").

local skynet = require "skynet"
local service = require "skynet.service"
local core = require "skynet.sharetable.core"

-- The service: name -> document (one reference held per current version).
-- Dumped by skynet.service, so it may use nothing but globals.
local function sharetable_service()
	local skynet = require "skynet"
	local core = require "skynet.sharetable.core"

	local matrix = {}
	local CMD = {}

	local function set(name, doc)
		local old = matrix[name]
		matrix[name] = doc
		if old then
			core.release(old)
		end
	end

	function CMD.loadfile(filename, ...)
		set(filename, core.loadfile(filename, ...))
	end

	function CMD.loadstring(name, source, ...)
		set(name, core.loadstring(source, ...))
	end

	function CMD.loadtable(name, tbl)
		set(name, core.build(tbl))
	end

	-- each pointer sent carries a reference for the reader
	function CMD.query(name)
		local doc = matrix[name]
		if doc then
			core.retain(doc)
		end
		return doc
	end

	function CMD.queryall(names)
		local r = {}
		if names then
			for _, name in ipairs(names) do
				r[name] = CMD.query(name)
			end
		else
			for name in pairs(matrix) do
				r[name] = CMD.query(name)
			end
		end
		return r
	end

	skynet.start(function()
		skynet.dispatch("lua", function(_, _, cmd, ...)
			local f = CMD[cmd]
			if f == nil then
				error("sharetable: unknown command " .. tostring(cmd))
			end
			skynet.retpack(f(...))
		end)
	end)
end

local sharetable = {}
local address

local function addr()
	if not address then
		address = service.new("sharetable", sharetable_service)
	end
	return address
end

setmetatable(sharetable, {
	__index = function(_, k)
		if k == "address" then
			return addr()
		end
	end,
})

function sharetable.loadfile(filename, ...)
	skynet.call(addr(), "lua", "loadfile", filename, ...)
end

function sharetable.loadstring(name, source, ...)
	skynet.call(addr(), "lua", "loadstring", name, source, ...)
end

function sharetable.loadtable(name, tbl)
	assert(type(tbl) == "table", "sharetable.loadtable: the value must be a table")
	skynet.call(addr(), "lua", "loadtable", name, tbl)
end

-- name -> { doc =, box =, root = } of the version this service got last
local current = {}
-- name -> set of boxes of older versions still held here (weak: a version
-- nobody here references any more needs no update)
local older = {}

local function adopt(name, doc)
	local cur = current[name]
	if cur and cur.doc == doc then
		core.release(doc) -- we hold it already
		return cur.root
	end
	if cur then
		local set = older[name]
		if not set then
			set = setmetatable({}, { __mode = "k" })
			older[name] = set
		end
		set[cur.box] = true
	end
	local box = core.box(doc)
	cur = { doc = doc, box = box, root = core.root(box) }
	current[name] = cur
	return cur.root
end

function sharetable.query(name)
	local doc = skynet.call(addr(), "lua", "query", name)
	if doc then
		return adopt(name, doc)
	end
end

function sharetable.queryall(namelist)
	local docs = skynet.call(addr(), "lua", "queryall", namelist)
	local r = {}
	for name, doc in pairs(docs) do
		r[name] = adopt(name, doc)
	end
	return r
end

function sharetable.update(...)
	for i = 1, select("#", ...) do
		local name = select(i, ...)
		if current[name] then
			local doc = skynet.call(addr(), "lua", "query", name)
			if doc then
				adopt(name, doc)
			end
			local set = older[name]
			if set then
				older[name] = nil
				local cur = current[name]
				for old in pairs(set) do
					core.remap(old, cur.box)
				end
				cur.root = core.root(cur.box) -- the re-pointed old root, if any
			end
		end
	end
end

return sharetable
