-- skynet/sharedata/corelib.lua -- the read-only proxies of skynet.sharedata.
--
-- A proxy is an empty-looking table whose metatable reads one table of the
-- shared C document (lualib-src/lua-sharedata.c) in place.  Its internal
-- fields use private table keys, so no user key collides with them.  A
-- child proxy is cached in its parent under its key (weakly: one that
-- nobody holds is made again on demand), so obj.n == obj.n.
--
-- Versions switch from the root (corelib.update): every cached child whose
-- key path still leads to a table is re-pointed; the others are detached
-- for good, and any later use of them raises
-- "The key [<path>] doesn't exist after update".

local core = require "skynet.sharedata.core"

local index, len, nextkey, box = core.index, core.len, core.next, core.box
local type, setmetatable, error, tostring, rawget, rawset = type, setmetatable, error, tostring, rawget, rawset

local NODE = {}     -- the stree table (light userdata); false once detached
local PARENT = {}   -- parent proxy (nil for the root)
local KEY = {}      -- key in the parent
local CHILDREN = {} -- key -> child proxy (weak values)
local BOX = {}      -- root only: the box keeping the current version alive

local weak = { __mode = "v" }
local meta = {}

local function path(obj)
	local keys = {}
	while rawget(obj, PARENT) do
		keys[#keys + 1] = tostring(rawget(obj, KEY))
		obj = rawget(obj, PARENT)
	end
	local r = ""
	for i = #keys, 1, -1 do
		r = r .. "." .. keys[i]
	end
	return r
end

local function node_of(obj)
	local node = rawget(obj, NODE)
	if not node then
		error("The key [" .. path(obj) .. "] doesn't exist after update", 3)
	end
	return node
end

local function child(obj, key, node)
	local children = rawget(obj, CHILDREN)
	if children == nil then
		children = setmetatable({}, weak)
		rawset(obj, CHILDREN, children)
	end
	local c = children[key]
	if c == nil then
		c = setmetatable({ [NODE] = node, [PARENT] = obj, [KEY] = key }, meta)
		children[key] = c
	end
	return c
end

function meta.__index(obj, key)
	local v = index(node_of(obj), key)
	if type(v) == "userdata" then
		return child(obj, key, v)
	end
	return v
end

function meta.__newindex(obj)
	error("Error newindex, the key [" .. path(obj) .. "]", 2)
end

function meta.__len(obj)
	return len(node_of(obj))
end

local function iter(obj, k)
	local nk, v = nextkey(node_of(obj), k)
	if type(v) == "userdata" then
		return nk, child(obj, nk, v)
	end
	return nk, v
end

function meta.__pairs(obj)
	return iter, obj, nil
end

local corelib = {}

-- A root proxy over the document doc (adopting the reference it carries).
function corelib.new(doc)
	local b = box(doc)
	return setmetatable({ [NODE] = core.root(b), [BOX] = b }, meta)
end

local function detach(obj)
	rawset(obj, NODE, false)
	local children = rawget(obj, CHILDREN)
	if children then
		rawset(obj, CHILDREN, nil)
		for _, c in pairs(children) do
			detach(c)
		end
	end
end

local function repoint(obj, node)
	rawset(obj, NODE, node)
	local children = rawget(obj, CHILDREN)
	if children then
		for k, c in pairs(children) do
			local v = index(node, k)
			if type(v) == "userdata" then
				repoint(c, v)
			else
				children[k] = nil
				detach(c)
			end
		end
	end
end

-- Switches the root proxy obj to the document doc (adopting its reference).
function corelib.update(obj, doc)
	local b = box(doc)
	repoint(obj, core.root(b))
	rawset(obj, BOX, b) -- the old version's box is garbage now
end

-- The document's table under obj (raises for a detached proxy).
function corelib.node(obj)
	return node_of(obj)
end

function corelib.isdirty(obj)
	return core.isdirty(rawget(obj, BOX))
end

return corelib
