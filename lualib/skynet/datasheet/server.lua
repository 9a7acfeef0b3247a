-- skynet/datasheet/server.lua -- the main function of the node-unique
-- `datasheet` service (started through skynet.service by whichever of the
-- builder and the reader comes first): one current document per name, and
-- the readers waiting for its next version.
--   new(name, doc) -> true | false, why      the calling builder owns name from now on
--   update(name, doc) -> true | false, why   only from the owner
--   query(name) -> doc | nil, why
--   monitor(name, doc) -> newer doc          waits while doc is current
-- Every document pointer sent, either way, carries one reference for the
-- receiver (lualib-src/lua-datasheet.c); one refused is released here.
-- A refusal is an answer (false/nil, why), not a raised error: the caller
-- raises it where the mistake was made, and nothing is logged here.
-- The function is dumped by skynet.service: it may use nothing but globals.

return function()
	local skynet = require "skynet"
	local core = require "skynet.datasheet.core"
	local docwatch = require "skynet.docwatch"

	local sheets = {} -- name -> { doc =, owner = address, watch = docwatch (readers waiting for the next version) }
	local CMD = {}

	local function refuse(doc, fmt, ...)
		core.release(doc)
		return false, string.format(fmt, ...)
	end

	function CMD.new(source, name, doc)
		local s = sheets[name]
		if s then
			return refuse(doc, "%s exists already (created by :%08x)", name, s.owner)
		end
		sheets[name] = { doc = doc, owner = source, watch = docwatch.new() }
		return true
	end

	function CMD.update(source, name, doc)
		local s = sheets[name]
		if s == nil then
			return refuse(doc, "no such name %s", name)
		elseif s.owner ~= source then
			return refuse(doc, "%s belongs to the builder :%08x", name, s.owner)
		end
		local old = s.doc
		s.doc = doc
		s.watch:wake(doc, core.retain, core.release)
		core.release(old)
		return true
	end

	function CMD.query(_, name)
		local s = sheets[name]
		if s == nil then
			return nil, string.format("no such name %s (a builder must create it first)", name)
		end
		core.retain(s.doc)
		return s.doc
	end

	-- Answers at once when doc is not the current version; else waits.
	function CMD.monitor(_, name, doc)
		local s = sheets[name]
		if s == nil then
			error(string.format("datasheet: no such name %s", name), 0)
		end
		if s.doc ~= doc then
			core.retain(s.doc)
			return s.doc
		end
		s.watch:park()
		return skynet.ignoreret
	end

	skynet.start(function()
		skynet.dispatch("lua", function(_, source, cmd, ...)
			local f = CMD[cmd]
			if f == nil then
				error("datasheet: unknown command " .. tostring(cmd))
			end
			local r = table.pack(f(source, ...))
			if r[1] ~= skynet.ignoreret then
				skynet.retpack(table.unpack(r, 1, r.n))
			end
		end)
	end)
end
