-- skynet/datasheet/builder.lua -- publishes read-only data for
-- skynet.datasheet readers.
--
--   builder.new(name, v)      v: a table, or bytes made by builder.compile
--   builder.update(name, v)   a new version of a name this service created
--   builder.compile(v) -> bytes    the document of spec api-shared-data.md §5.4
--
-- A version is copied once into C memory (lualib-src/lua-datasheet.c) and
-- handed to the `datasheet` service; readers read it there.  It lives as
-- long as someone holds it, so readers outlive a builder that exits.
-- update numbers the new version's tables so that a table reached by the
-- same key path as in the version before keeps its number: that is how a
-- reader's held sub-tables follow the update (lualib-src/datasheet_doc.c).

local skynet = require "skynet"
local service = require "skynet.service"
local core = require "skynet.datasheet.core"
local server = require "skynet.datasheet.server"

local builder = {}
local address
-- name -> the document this service published last (one reference, kept
-- to number the next version against)
local published = {}

skynet.init(function()
	address = service.new("datasheet", server)
end)

---- compile ----------------------------------------------------------------

local pack = string.pack
local FLOAT_MAX = 3.4028234663852886e38 -- the largest finite binary32
local TRUE, FALSE = "\0\0\0\1", "\0\0\0\0" -- spec: booleans are these bytes

local function keypath(keys)
	local parts = {}
	for i, k in ipairs(keys) do
		parts[i] = "." .. tostring(k)
	end
	return "[" .. table.concat(parts) .. "]"
end

-- One compilation: tables numbered in pre-order, strings in first-encounter
-- order (a dict key before its value), dict entries in `pairs` order.
local function compile(root)
	local bodies = {}  -- table index + 1 -> bytes
	local strings = {} -- in order, each followed by a NUL in the area
	local stroffset = {}
	local strsize = 0
	local keys = {}    -- key path of the table being dumped (for errors)
	local onpath = {}  -- tables being dumped (a cycle cannot be stored)

	local function fail(what, key)
		local path = keypath(keys)
		if key ~= nil then
			path = path:sub(1, -2) .. "." .. tostring(key) .. "]"
		end
		error("datasheet.builder.compile: " .. what .. " at " .. path, 0)
	end

	local function string_offset(s, key)
		local o = stroffset[s]
		if o then
			return o
		end
		if s:find("\0", 1, true) then
			fail("a string with an embedded NUL cannot be stored (the format ends strings with NUL)", key)
		end
		o = strsize
		stroffset[s] = o
		strings[#strings + 1] = s
		strsize = strsize + #s + 1
		return o
	end

	local dump

	-- type byte and u32 bytes of value v, found at key
	local function value(v, key)
		local t = type(v)
		if t == "number" then
			if math.type(v) == "integer" then
				if v >= -0x80000000 and v <= 0x7fffffff then
					return "\1", pack("<i4", v)
				end
				-- wider integers are floats in this format: refuse to round one
				if v ~= string.unpack("<f", pack("<f", v)) then
					fail("integer " .. v .. " does not fit the format (int32, or an exact float32)", key)
				end
			elseif v == v and v > -math.huge and v < math.huge and (v > FLOAT_MAX or v < -FLOAT_MAX) then
				fail("number " .. string.format("%.17g", v) .. " is beyond float32", key)
			end
			return "\2", pack("<f", v)
		elseif t == "string" then
			return "\5", pack("<I4", string_offset(v, key))
		elseif t == "boolean" then
			return "\3", v and TRUE or FALSE
		elseif t == "table" then
			keys[#keys + 1] = key
			local index = dump(v)
			keys[#keys] = nil
			return "\4", pack("<I4", index)
		end
		fail("Unsupport value " .. tostring(v), key)
	end

	function dump(t)
		if onpath[t] then
			fail("a table contains itself (cycles cannot be stored)")
		end
		onpath[t] = true
		local index = #bodies
		bodies[index + 1] = false -- numbered before its children
		-- as ipairs and pairs see it, so proxies (sharedata, datasheet) read as their data
		local narray = 0
		while t[narray + 1] ~= nil do
			narray = narray + 1
		end
		local types, values, ndict = {}, {}, 0
		for i = 1, narray do
			types[i], values[i] = value(t[i], i)
		end
		for k, v in pairs(t) do
			if type(k) == "string" then
				ndict = ndict + 1
				local ko = pack("<I4", string_offset(k, k))
				local ty, vo = value(v, k)
				types[narray + ndict] = ty
				values[narray + ndict] = ko .. vo
			elseif not (math.type(k) == "integer" and k >= 1 and k <= narray) then
				fail("key " .. tostring(k) .. " (" .. type(k) .. ") cannot be stored: keys are 1..n (no holes) and strings")
			end
		end
		local n = narray + ndict
		local pad = string.rep("\0", (4 - n % 4) % 4)
		bodies[index + 1] = pack("<I4I4", narray, ndict) .. table.concat(types) .. pad .. table.concat(values)
		onpath[t] = nil
		return index
	end

	if type(root) ~= "table" then
		error("datasheet.builder.compile: the value must be a table, got " .. type(root), 0)
	end
	dump(root)
	local n = #bodies
	local index, off = {}, 0
	for i = 1, n do
		index[i] = pack("<I4", off)
		off = off + #bodies[i]
	end
	local area = #strings > 0 and table.concat(strings, "\0") .. "\0" or "\0"
	return pack("<I4I4", 8 + 4 * n + off, n) .. table.concat(index) .. table.concat(bodies) .. area
end

function builder.compile(v)
	return compile(v)
end

---- publishing ---------------------------------------------------------------

local function bytes_of(fname, v)
	if type(v) == "table" then
		return compile(v)
	elseif type(v) == "string" then
		return v -- checked by core.new
	end
	error(fname .. ": the value must be a table or a document from builder.compile, got " .. type(v), 3)
end

local function checkname(fname, name)
	if type(name) ~= "string" then
		error(fname .. ": the name must be a string, got " .. type(name), 3)
	end
	if address == nil then
		error(fname .. ": use it after skynet.init ran (inside skynet.start)", 3)
	end
end

-- Hands doc to the service (its own reference travels with the message)
-- and keeps this service's reference for the next update.
local function publish(fname, cmd, name, doc)
	core.retain(doc)
	local ok, done, why = pcall(skynet.call, address, "lua", cmd, name, doc)
	if not (ok and done) then
		core.release(doc) -- the service released its reference when it refused
		error(ok and fname .. ": " .. why or done, 3)
	end
	local old = published[name]
	published[name] = doc
	if old then
		core.release(old)
	end
end

function builder.new(name, v)
	checkname("datasheet.builder.new", name)
	if published[name] then
		error("datasheet.builder.new: " .. name .. " exists already (use builder.update)", 2)
	end
	publish("datasheet.builder.new", "new", name, core.new(bytes_of("datasheet.builder.new", v)))
end

function builder.update(name, v)
	checkname("datasheet.builder.update", name)
	local prev = published[name]
	if prev == nil then
		error("datasheet.builder.update: no such name " .. name .. " in this service (builder.new it first)", 2)
	end
	publish("datasheet.builder.update", "update", name, core.new(core.renumber(bytes_of("datasheet.builder.update", v), prev)))
end

return builder
