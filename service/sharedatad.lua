-- sharedatad.lua -- the service behind skynet.sharedata: one current
-- document per name, and the readers waiting for its next version.
--   new(name, v, ...)     update(name, v, ...)     delete(name)
--   query(name) -> doc    monitor(name, doc) -> newer doc | nil (deleted)
-- Every document pointer sent carries one reference for the receiver.

local skynet = require "skynet"
local core = require "skynet.sharedata.core"
local docwatch = require "skynet.docwatch"

-- a changed data file must really be read again
pcall(function() require("skynet.codecache").mode "OFF" end)

local pool = {}  -- name -> { doc = , watch = docwatch (readers waiting for the next version) }
local CMD = {}

-- Globals a source chunk assigns stay in its own environment table, whose
-- reads fall back to ours (print, string, ...) until it has run.
local function build(name, v, ...)
	local t = type(v)
	local data
	if t == "table" then
		data = v
	elseif t == "nil" then
		data = {}
	elseif t == "string" then
		local env = setmetatable({}, { __index = _ENV })
		local f, err
		if v:sub(1, 1) == "@" then
			f, err = loadfile(v:sub(2), "bt", env)
		else
			f, err = load(v, "=" .. name, "bt", env)
		end
		if not f then
			error(err, 0)
		end
		local r = f(...)
		setmetatable(env, nil)
		data = type(r) == "table" and r or env
	else
		error("Unknown data type " .. t, 0)
	end
	return core.build(data)
end

local function wake(p, doc)
	p.watch:wake(doc, core.retain, core.release)
end

function CMD.new(name, v, ...)
	assert(pool[name] == nil, "sharedata: " .. tostring(name) .. " exists already")
	pool[name] = { doc = build(name, v, ...), watch = docwatch.new() }
end

function CMD.update(name, v, ...)
	local doc = build(name, v, ...)
	local p = pool[name]
	if p == nil then
		pool[name] = { doc = doc, watch = docwatch.new() }
		return
	end
	local old = p.doc
	core.dirty(old)
	p.doc = doc
	wake(p, doc)
	core.release(old)
end

function CMD.delete(name)
	local p = pool[name]
	assert(p, "sharedata: no such name " .. tostring(name))
	pool[name] = nil
	wake(p, nil)
	core.release(p.doc)
end

function CMD.query(name)
	local p = pool[name]
	if p == nil then
		error("sharedata: no such name " .. tostring(name), 0)
	end
	core.retain(p.doc)
	return p.doc
end

-- Answers at once when doc is not the current version; else waits.
function CMD.monitor(name, doc)
	local p = pool[name]
	if p == nil then
		return nil
	end
	if p.doc ~= doc then
		core.retain(p.doc)
		return p.doc
	end
	p.watch:park()
	return skynet.ignoreret
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = CMD[cmd]
		if f == nil then
			error("sharedatad: unknown command " .. tostring(cmd))
		end
		local r = table.pack(f(...))
		if r[1] ~= skynet.ignoreret then
			skynet.retpack(table.unpack(r, 1, r.n))
		end
	end)
end)
