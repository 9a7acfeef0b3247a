-- bench_pair.lua -- one side of a ping-pong pair for the `send` scenario.
--
-- A "ball" message is answered by sending a ball straight back to its
-- source with skynet.send, from the dispatch function, so each pair keeps
-- exactly as many messages in flight as were served into it.  Control
-- messages come by skynet.call from the driving service:
--   serve(peer)  send the first ball to peer
--   count        how many balls this side has received
--   stop         stop returning balls (the one in flight then dies here)
--   quit         exit the service

local skynet = require "skynet"

local received = 0
local playing = true

local CMD = {}

function CMD.serve(peer)
	skynet.send(peer, "lua", "ball")
	return true
end

function CMD.count()
	return received
end

function CMD.stop()
	playing = false
	return received
end

function CMD.quit()
	skynet.ret(skynet.pack(true))
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(_, source, cmd, ...)
		if cmd == "ball" then
			received = received + 1
			if playing then
				skynet.send(source, "lua", "ball")
			end
			return
		end
		local f = CMD[cmd]
		if not f then
			error(string.format("bench_pair: unknown command %q from %s", tostring(cmd), skynet.address(source)))
		end
		if cmd == "quit" then
			return f(...)
		end
		skynet.ret(skynet.pack(f(...)))
	end)
end)
