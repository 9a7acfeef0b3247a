-- svc_mc_sub.lua -- a subscriber for test_multicast: records what arrives.
--   sub(channel [, exit_after])  subscribe; exit the service after that many messages
--                                (with the later ones still queued)
--   result() -> count, in_order, all_4_values, sources
--   unsub()
--   pub(channel, n)  publish 1..n as (seq, "a", nil, true)
local skynet = require "skynet"
local multicast = require "skynet.multicast"

local chan
local count = 0
local in_order, four = true, true
local last = {}    -- publisher -> last sequence number
local sources = {} -- publisher -> count

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, c, exit_after)
		if cmd == "sub" then
			chan = multicast.new {
				channel = c,
				dispatch = function(_, source, seq, ...)
					count = count + 1
					if seq <= (last[source] or 0) then in_order = false end
					last[source] = seq
					sources[source] = (sources[source] or 0) + 1
					if select("#", ...) ~= 3 or (...) ~= "a" or select(3, ...) ~= true then four = false end
					if exit_after and count == exit_after then
						-- busy for 0.3 s so that later deliveries queue up
						-- and are dropped unread when the service exits
						local t = skynet.hpc() + 300000000
						while skynet.hpc() < t do end
						skynet.exit()
					end
				end,
			}
			chan:subscribe()
			chan:subscribe() -- idempotent
		elseif cmd == "pub" then
			local ch = multicast.new { channel = c }
			for seq = 1, exit_after do
				ch:publish(seq, "a", nil, true)
			end
		elseif cmd == "unsub" then
			chan:unsubscribe()
		elseif cmd == "result" then
			skynet.retpack(count, in_order, four, sources)
			return
		end
		if session ~= 0 then skynet.retpack(true) end
	end)
end)
