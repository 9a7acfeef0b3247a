-- harbor_echo.lua -- the target service of the harbor e2e tests, registered
-- under a global name by harbor_node.lua.  Lua commands:
--   echo ...       returns its arguments
--   sleep ti       answers after ti centiseconds (a call left in flight)
--   push seq s     a one-way message: counts it, checks order and content
--   result         count, in order, intact (of the pushes so far)
local skynet = require "skynet"

local count, ordered, intact = 0, true, true

-- The payload of push number seq: n bytes derived from seq.
local function expected(seq, n)
	local unit = string.format("%08x", seq)
	return (string.rep(unit, n // 8 + 1)):sub(1, n)
end

local CMD = {}
function CMD.echo(...) return ... end
function CMD.sleep(ti) skynet.sleep(ti) return "slept" end
function CMD.push(seq, s)
	count = count + 1
	if seq ~= count then ordered = false end
	if s ~= expected(seq, #s) then intact = false end
end
function CMD.result() return count, ordered, intact end

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		if cmd == nil then -- an empty message (0 bytes): answered, or counted
			if session ~= 0 then
				skynet.ret()
			else
				count = count + 1
			end
			return
		end
		local f = CMD[cmd]
		if session == 0 then
			f(...)
		else
			skynet.ret(skynet.pack(f(...)))
		end
	end)
end)
