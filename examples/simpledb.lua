-- simpledb: the key/value store of the KV database example, an in-memory
-- table registered under the global name SIMPLEDB (harbor mode: any node
-- of the network can call it).  Lua commands, case-insensitive:
--   GET key          -> the value, or nil
--   SET key value    -> the previous value, or nil
--   PING str         (send only) logs "<sender> ping <str>"
local skynet = require "skynet"
require "skynet.manager" -- skynet.register

local PING_SHOWN = 20 -- longer ping strings are logged cut, with their length

local db = {}

local command = {}

function command.GET(key)
	return db[key]
end

function command.SET(key, value)
	local last = db[key]
	db[key] = value
	return last
end

local function ping(source, str)
	str = tostring(str)
	if #str > PING_SHOWN then
		str = string.format("%s...(%d)", str:sub(1, PING_SHOWN), #str)
	end
	skynet.error(string.format("%s ping %s", skynet.address(source), str))
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		cmd = string.upper(tostring(cmd))
		if cmd == "PING" then
			if session ~= 0 then
				error("simpledb: PING is sent, not called")
			end
			ping(source, ...)
			return
		end
		local f = command[cmd]
		if not f then
			error(string.format("Unknown command %s", cmd))
		end
		skynet.ret(skynet.pack(f(...)))
	end)
	skynet.register "SIMPLEDB"
end)
