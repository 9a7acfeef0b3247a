-- skynet/datasheet.lua -- reads what skynet.datasheet.builder publishes.
--
--   datasheet.query(name) -> table   the same table on every call; it follows updates
--
-- The tables are lazy: a table is a proxy until its first index, `#`,
-- `pairs` or write, which copies its whole level (array part, then string
-- keys) from the shared document (lualib-src/lua-datasheet.c) into it and
-- removes its metatable; from then on it is a plain Lua table.  A nested
-- table is made once per document table number, so it keeps its identity.
--
-- Per queried name one coroutine waits in the `datasheet` service for the
-- next version.  When one arrives, every table of that name in this service
-- is emptied and made a proxy again, in one C call, over the same table
-- number in the new version (the builder numbers a table reached by the
-- same key path alike); a table whose number the new version does not have
-- raises `Invalid proxy (index = <n>)` on every use.

local skynet = require "skynet"
local service = require "skynet.service"
local core = require "skynet.datasheet.core"
local server = require "skynet.datasheet.server"

local datasheet = {}
local address
local sheets = {}  -- name -> sheet (kept: a queried name is followed for good)
local loading = {} -- name -> coroutines waiting for the first query of name

skynet.init(function()
	address = service.new("datasheet", server)
end)

-- A sheet: { name, doc, box, mt, cache = index -> table (weak), number = table -> index (weak), root }
local function newsheet(name, doc)
	local s = { name = name, doc = doc, box = core.box(doc) }
	local number = setmetatable({}, { __mode = "k" })
	local function load(t)
		local i = number[t]
		if not core.fill(s.box, i, t, s.cache) then
			error(string.format("datasheet %s: Invalid proxy (index = %d): this table is not in the current version", name, i), 3)
		end
	end
	s.mt = {
		__index = function(t, k)
			load(t)
			return rawget(t, k)
		end,
		__newindex = function(t, k, v)
			load(t)
			rawset(t, k, v)
		end,
		__len = function(t)
			load(t)
			return #t
		end,
		__pairs = function(t)
			load(t)
			return next, t, nil
		end,
	}
	s.cache = setmetatable({}, {
		__mode = "v",
		__index = function(c, i)
			local t = setmetatable({}, s.mt)
			number[t] = i
			c[i] = t
			return t
		end,
	})
	s.root = s.cache[0]
	return s
end

local function switch(s, doc)
	s.doc = doc
	s.box = core.box(doc) -- the old box is collected once nothing runs on it
	core.reset(s.cache, s.mt)
end

local function monitor(s)
	while true do
		-- waits for the next version however long: no call deadline
		local doc = skynet.call_timeout(0, address, "lua", "monitor", s.name, s.doc)
		switch(s, doc)
	end
end

function datasheet.query(name)
	local s = sheets[name]
	if s then
		return s.root
	end
	if address == nil then
		error("datasheet.query: use it after skynet.init ran (inside skynet.start)", 2)
	end
	local waiting = loading[name]
	if waiting then -- another coroutine asks already: wait for its answer
		waiting[#waiting + 1] = coroutine.running()
		skynet.wait()
		s = sheets[name]
		if s then
			return s.root
		end
		error(waiting.err, 2)
	end
	waiting = {}
	loading[name] = waiting
	local ok, doc, why = pcall(skynet.call, address, "lua", "query", name)
	loading[name] = nil
	if ok and doc == nil then
		ok, doc = false, "datasheet.query: " .. why
	end
	if ok then
		s = newsheet(name, doc)
		sheets[name] = s
		skynet.fork(monitor, s)
	else
		waiting.err = doc -- not remembered beyond these waiters: a later query asks again
	end
	for _, co in ipairs(waiting) do
		skynet.wakeup(co)
	end
	if not ok then
		error(doc, 2)
	end
	return s.root
end

return datasheet
