-- test_multicast.lua -- skynet.multicast with multicastd: channel ids,
-- 1,000 subscribers, order per publisher, a subscriber that exits with
-- messages queued, unsubscribe, delete, errors in dispatch; and that every
-- shared package is freed in the end.
local skynet = require "skynet"
local multicast = require "skynet.multicast"
local mc = require "skynet.multicast.core"
local T = require "testlib"

local SUBS = 1000
local MSGS = 20

local function parallel(list, f)
	local left, co = #list, coroutine.running()
	local r = {}
	for i, v in ipairs(list) do
		skynet.fork(function()
			r[i] = table.pack(f(v))
			left = left - 1
			if left == 0 then skynet.wakeup(co) end
		end)
	end
	if left > 0 then skynet.wait(co) end
	return r
end

T.run("test_multicast", function()
	local live0 = mc.live()
	local c0 = multicast.new()
	local c1 = multicast.new()
	T.eq("first channel id of harbor 0", c0.channel, 0)
	T.eq("next id steps by 256", c1.channel, 256)
	T.eq("tostring", tostring(c0), "[Multicast:0]")
	T.eq("tostring in hex", tostring(c1), "[Multicast:100]")

	-- delivery to itself: source is the publisher, session the channel, nil survives
	local got
	local self_chan = multicast.new {
		dispatch = function(ch, source, ...)
			got = { ch = ch, source = source, n = select("#", ...), ... }
		end,
	}
	self_chan:subscribe()
	self_chan:publish("a", 1, nil, true)
	T.waitfor(function() return got end, 100)
	T.ok("the publisher's own subscription gets it", got and got.ch == self_chan and got.source == skynet.self())
	T.ok("nil arguments survive", got and got.n == 4 and got[1] == "a" and got[3] == nil and got[4] == true)

	-- 1,000 subscribers, two publishers interleaved
	local subs = {}
	for i = 1, SUBS do
		subs[i] = skynet.newservice "svc_mc_sub"
	end
	parallel(subs, function(s) return skynet.call(s, "lua", "sub", c0.channel) end)
	local quitter = skynet.newservice "svc_mc_sub"
	skynet.call(quitter, "lua", "sub", c0.channel, 3)
	local leaver = skynet.newservice "svc_mc_sub"
	skynet.call(leaver, "lua", "sub", c0.channel)
	local pub2 = skynet.newservice "svc_mc_sub"
	local other = multicast.new { channel = c0.channel }
	local pub2_done
	skynet.fork(function()
		skynet.call(pub2, "lua", "pub", c0.channel, MSGS)
		pub2_done = true
	end)
	for seq = 1, MSGS do
		c0:publish(seq, "a", nil, true)
		if seq == 5 then
			skynet.call(leaver, "lua", "unsub")
		end
	end
	T.waitfor(function() return pub2_done end, 500)
	local want = 2 * MSGS
	local ok = T.waitfor(function()
		for _, r in ipairs(parallel(subs, function(s) return skynet.call(s, "lua", "result") end)) do
			if r[1] < want then return false end
		end
		return true
	end, 1000)
	T.ok("1,000 subscribers get every message", ok)
	local ordered, four, exact = 0, 0, 0
	for _, r in ipairs(parallel(subs, function(s) return skynet.call(s, "lua", "result") end)) do
		if r[2] then ordered = ordered + 1 end
		if r[3] then four = four + 1 end
		if r[1] == want then exact = exact + 1 end
	end
	T.eq("each publisher's messages arrive in order", ordered, SUBS)
	T.eq("all values arrive", four, SUBS)
	T.eq("no duplicates", exact, SUBS)
	local lc, _, _, from = skynet.call(leaver, "lua", "result")
	T.ok("unsubscribe stops the messages", lc >= 5 and lc < want, lc)
	local _, _, _, src = skynet.call(subs[1], "lua", "result")
	T.ok("the source is the publisher", src[skynet.self()] == MSGS and src[pub2] == MSGS)
	skynet.sleep(10)
	T.eq("the exited subscriber's queued deliveries are freed too", mc.live() - live0, 0)

	-- delete
	c0:delete()
	T.eq("channel is nil after delete", c0.channel, nil)
	T.raises("publish on a deleted object", "deleted", c0.publish, c0, 1)
	other:publish(99, "a", nil, true) -- another holder: silent no-op
	multicast.new { channel = c1.channel }:publish("nobody") -- no subscribers: no-op
	skynet.sleep(5)
	local r = skynet.call(subs[1], "lua", "result")
	T.eq("no delivery after delete", r, want)

	-- a dispatch error is logged and does not affect others
	local bad = multicast.new { channel = c1.channel, dispatch = function() error "dispatch boom" end }
	bad:subscribe()
	local good = 0
	local g2 = multicast.new { channel = c1.channel, dispatch = function() good = good + 1 end }
	g2:subscribe() -- replaces bad in this service: one object per channel and service
	skynet.call(subs[2], "lua", "sub", c1.channel)
	c1:publish(1, "a", nil, true)
	T.waitfor(function() return good == 1 end, 100)
	T.eq("the service's current object gets it", good, 1)
	skynet.sleep(5)
	T.eq("packages freed", mc.live() - live0, 0)
	for _, s in ipairs(subs) do skynet.send(s, "lua", "exit") end
	skynet.kill(pub2)
end, 6000)
