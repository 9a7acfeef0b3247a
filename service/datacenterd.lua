-- datacenterd.lua -- the node-wide data tree behind skynet.datacenter,
-- registered by bootstrap as the global name DATACENTER.
--   QUERY k1 ... kn        -> value or nil
--   UPDATE k1 ... kn value -> previous value (intermediate tables created)
--   WAIT k1 ... kn         -> value, answered when it becomes non-nil; a
--                             wait on a path that becomes a branch fails

local skynet = require "skynet"

local database = {}
local wait_queue = {}
local MODE = {} -- key of the node kind in wait_queue nodes: "queue" or "branch"
local command = {}

local function query(db, key, ...)
	if key == nil then return db end
	if type(db) ~= "table" then return nil end
	return query(db[key], ...)
end

function command.QUERY(key, ...)
	local d = database[key]
	if d ~= nil then
		return query(d, ...)
	end
end

-- update(db, k1, ..., kn, value) -> previous value, value
local function update(db, key, value, ...)
	if select("#", ...) == 0 then
		local old = db[key]
		db[key] = value
		return old, value
	end
	local sub = db[key]
	if type(sub) ~= "table" then
		sub = {}
		db[key] = sub
	end
	return update(sub, value, ...)
end

-- Finds (and removes) the wait queue of path k1 .. kn (the value is last).
local function take_waiters(db, key, ...)
	if key == nil then return end
	local q = db[key]
	if q == nil then return end
	if q[MODE] == "queue" then
		db[key] = nil
		if select("#", ...) ~= 1 then
			-- a leaf became a branch: its waiters can't get a value
			for _, response in ipairs(q) do
				response(false, "datacenter: waited key became a branch")
			end
			return
		end
		return q
	end
	return take_waiters(q, ...)
end

function command.UPDATE(...)
	local old, value = update(database, ...)
	if old ~= nil or value == nil then
		return old
	end
	local q = take_waiters(wait_queue, ...)
	if q then
		for _, response in ipairs(q) do
			response(true, value)
		end
	end
end

local function waitfor(db, key1, key2, ...)
	local q = db[key1]
	if key2 == nil then
		if q == nil then
			q = { [MODE] = "queue" }
			db[key1] = q
		end
		assert(q[MODE] == "queue", "datacenter: wait on a branch")
		q[#q + 1] = skynet.response()
	else
		if q == nil then
			q = { [MODE] = "branch" }
			db[key1] = q
		end
		assert(q[MODE] == "branch", "datacenter: wait below a leaf")
		return waitfor(q, key2, ...)
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		if cmd == "WAIT" then
			local ret = command.QUERY(...)
			if ret ~= nil then
				skynet.ret(skynet.pack(ret))
			else
				waitfor(wait_queue, ...)
			end
		else
			local f = command[cmd]
			if f == nil then
				error("datacenterd: unknown command " .. tostring(cmd))
			end
			skynet.ret(skynet.pack(f(...)))
		end
	end)
end)
