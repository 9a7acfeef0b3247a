-- bench_mc_sub.lua -- subscriber of the multicast scenario: counts
-- messages and acks the marked last one of each batch to the publisher.
local skynet = require "skynet"
local multicast = require "skynet.multicast"

local count = 0
local chan

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, c, publisher)
		if cmd == "sub" then
			chan = multicast.new {
				channel = c,
				dispatch = function(_, _, seq, mark)
					count = count + 1
					if mark then
						skynet.send(publisher, "lua", "ack", seq)
					end
				end,
			}
			chan:subscribe()
			skynet.retpack(true)
		elseif cmd == "count" then
			skynet.retpack(count)
		elseif cmd == "exit" then
			chan:unsubscribe()
			skynet.exit()
		end
	end)
end)
