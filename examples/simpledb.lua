-- simpledb: the key/value store of the KV database example, registered as
-- ".SIMPLEDB".  Lua commands (case-insensitive): GET(key) -> value or nil;
-- SET(key, value) -> the previous value or nil.  Values live in memory.
local skynet = require "skynet"
require "skynet.manager" -- skynet.register

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

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = command[string.upper(tostring(cmd))]
		if not f then
			error(string.format("simpledb: unknown command %s", tostring(cmd)))
		end
		skynet.ret(skynet.pack(f(...)))
	end)
	skynet.register ".SIMPLEDB"
end)
