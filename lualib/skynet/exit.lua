-- skynet/exit.lua -- the body of skynet.exit() (api-skynet.md §3.5),
-- loaded when a service exits.  In order: pending forks are discarded;
-- .launcher gets REMOVE; every request not answered yet gets PTYPE_ERROR
-- ("service exited"); suspended coroutines are closed; unused responses are
-- answered false; every service we were waiting on gets PTYPE_ERROR with
-- session 0 (we are gone); later requests are answered with errors; the
-- handle is retired.

local skynet = require "skynet"
local c = require "skynet.core"
local S = require "skynet.internal"

return function()
	local fork_queue = S.fork_queue
	for i = fork_queue.h, fork_queue.t do fork_queue[i] = nil end
	fork_queue.h, fork_queue.t = 1, 0
	skynet.send(".launcher", "lua", "REMOVE", skynet.self(), false)
	local text = S.error_payload("service exited")
	local session_coroutine_address = S.session_coroutine_address
	for co, session in pairs(S.session_coroutine_id) do
		local addr = session_coroutine_address[co]
		if session ~= 0 and addr then
			c.send(addr, 7, session, text)
		end
	end
	local me = coroutine.running()
	for _, co in pairs(S.session_id_coroutine) do
		if type(co) == "thread" and co ~= me and coroutine.status(co) == "suspended" then
			coroutine.close(co)
		end
	end
	for resp in pairs(S.unresponse) do
		resp(false, text)
	end
	local called = {}
	for _, addr in pairs(S.watching_session) do
		called[addr] = true
	end
	for addr in pairs(called) do
		c.send(addr, 7, 0, text)
	end
	c.callback(function(_, _, _, session, source)
		if session ~= 0 and source ~= 0 then
			c.send(source, 7, session, text)
		end
	end)
	c.command "EXIT"
	local _, main = coroutine.running()
	if not main then
		coroutine.yield "QUIT"
	end
end
