-- svc_echo.lua -- helper for the Lua tests: a service with a few commands.
local skynet = require "skynet"

local ARGV = table.pack(...)
local CMD = {}
local held = {} -- responses kept for later
local state = { count = 0 }

function CMD.echo(...) return ... end
function CMD.add(a, b) return a + b end
function CMD.raise(msg) error(msg or "boom") end
function CMD.count() state.count = state.count + 1 return state.count end
function CMD.sleep(ti, ...) skynet.sleep(ti) return ... end
function CMD.exit() skynet.exit() end
function CMD.hold() held[#held + 1] = skynet.response() return skynet.ignoreret end
function CMD.release(...)
	local n = 0
	for i, r in ipairs(held) do
		if r(true, ...) then n = n + 1 end
		held[i] = nil
	end
	return n
end
function CMD.size(s) return #s end
function CMD.busy(ms) -- keeps the worker busy without yielding
	local t = skynet.hpc() + ms * 1000000
	while skynet.hpc() < t do end
	return skynet.mqlen()
end
function CMD.big(n) return string.rep("x", n) end
function CMD.self() return skynet.self() end
function CMD.call(addr, ...) return skynet.call(addr, "lua", ...) end
function CMD.noreply() return CMD end -- marker: no reply
function CMD.args() return table.unpack(ARGV) end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = assert(CMD[cmd], "unknown command " .. tostring(cmd))
		local r = table.pack(f(...))
		if r[1] == skynet.ignoreret or r[1] == CMD then
			return
		end
		if session ~= 0 then
			skynet.ret(skynet.pack(table.unpack(r, 1, r.n)))
		end
	end)
end)
