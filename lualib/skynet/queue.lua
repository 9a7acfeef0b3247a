-- skynet/queue.lua -- critical sections between the coroutines of a service.
--
--   local cs = require "skynet.queue"()
--   cs(f, ...)   -- runs f(...) with at most one coroutine inside cs
--
-- Waiters enter in FIFO order.  The coroutine inside may enter again
-- (re-entrant).  f's results are returned; its error (with traceback) is
-- raised after the section is released.

local skynet = require "skynet"
local traceback = debug.traceback
local co_running = coroutine.running

local function queue()
	local owner       -- coroutine inside the section
	local depth = 0   -- re-entry count of owner
	local waiting = { h = 1, t = 0 }

	local function leave(ok, ...)
		depth = depth - 1
		if depth == 0 then
			local h = waiting.h
			if h <= waiting.t then
				owner = waiting[h]
				waiting[h] = nil
				waiting.h = h + 1
				skynet.wakeup(owner)
			else
				owner = nil
				waiting.h, waiting.t = 1, 0
			end
		end
		if not ok then
			error((...), 0)
		end
		return ...
	end

	return function(f, ...)
		local co = co_running()
		if owner ~= nil and owner ~= co then
			local t = waiting.t + 1
			waiting.t = t
			waiting[t] = co
			skynet.wait(co)
			-- leave() made us the owner before waking us
		end
		owner = co
		depth = depth + 1
		return leave(xpcall(f, traceback, ...))
	end
end

skynet.queue = queue

return queue
