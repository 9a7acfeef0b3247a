-- mc_node.lua -- start service of test/e2e/test_multicast_harbor.sh
-- (upstream's testmulticast2 between two harbor nodes); config key
-- `mc_role`:
--   owner   node 1: creates the channel (datacenter MCCHANNEL), 10 local
--           subscribers; READY; waits for node 2's messages, then publishes
--           its own (OWNER_PUBLISHED); after node 2 deleted the channel,
--           checks that nothing is delivered any more; DONE
--   remote  node 2: 10 subscribers of the remote channel, publishes through
--           the owner, waits for the owner's messages, checks errors,
--           deletes the channel; DONE
-- Checks are logged as PASS/FAIL lines that the script relays.
local skynet = require "skynet"
local multicast = require "skynet.multicast"
local datacenter = require "skynet.datacenter"

local role = skynet.getenv "mc_role"
local SUBS, MSGS = 10, 20

local function check(name, cond, why)
	skynet.error((cond and "PASS " or "FAIL ") .. name .. (cond and "" or ": " .. tostring(why)))
end

-- polls until f() is true, at most `limit` seconds
local function waitfor(f, limit)
	for _ = 1, limit * 20 do
		if f() then return true end
		skynet.sleep(5)
	end
	return false
end

-- count of messages each sub got from publishers of harbor h, in order
local function from_harbor(subs, h)
	local counts, ordered = {}, true
	for i, s in ipairs(subs) do
		local _, in_order, four, sources = skynet.call(s, "lua", "result")
		counts[i] = 0
		for src, n in pairs(sources) do
			if skynet.harbor(src) == h then counts[i] = counts[i] + n end
		end
		ordered = ordered and in_order and four
	end
	return counts, ordered
end

local function all(counts, n)
	for _, c in ipairs(counts) do
		if c ~= n then return false end
	end
	return true
end

local function start_subs(c)
	local subs = {}
	for i = 1, SUBS do
		subs[i] = skynet.newservice "svc_mc_sub"
		skynet.call(subs[i], "lua", "sub", c)
	end
	return subs
end

local ROLE = {}

function ROLE.owner()
	local chan = multicast.new()
	check("multicast: the first channel of harbor 1 is 1", chan.channel == 1, chan.channel)
	datacenter.set("MCCHANNEL", chan.channel)
	local subs = start_subs(chan.channel)
	skynet.error "READY"
	local ok = waitfor(function() return all((from_harbor(subs, 2)), MSGS) end, 30)
	local counts, ordered = from_harbor(subs, 2)
	check("multicast: node 2's messages reach the owner's 10 subscribers", ok, table.concat(counts, ","))
	check("multicast: in order, with every value, from node 2's publisher", ordered, "out of order or values lost")
	for seq = 1, MSGS do
		chan:publish(seq, "a", nil, true)
	end
	skynet.error "OWNER_PUBLISHED"
	datacenter.wait "DELETED"
	skynet.sleep(20)
	local before = from_harbor(subs, 1)
	multicast.new { channel = chan.channel }:publish(99, "a", nil, true)
	skynet.sleep(20)
	local after = from_harbor(subs, 1)
	check("multicast: a channel deleted from node 2 delivers nothing more", all(after, before[1]) and before[1] == MSGS,
		table.concat(after, ","))
	skynet.error "DONE"
end

function ROLE.remote()
	local c = datacenter.wait "MCCHANNEL"
	local subs = start_subs(c)
	local pub = skynet.newservice "svc_mc_sub"
	skynet.call(pub, "lua", "pub", c, MSGS)
	local ok = waitfor(function() return all((from_harbor(subs, 2)), MSGS) end, 30)
	local counts, ordered = from_harbor(subs, 2)
	check("multicast: a publish on node 2 comes back through the owner to node 2's subscribers", ok,
		table.concat(counts, ","))
	check("multicast: in order, source preserved across nodes", ordered, "out of order or values lost")
	ok = waitfor(function() return all((from_harbor(subs, 1)), MSGS) end, 30)
	counts = from_harbor(subs, 1)
	check("multicast: the owner's messages reach node 2's subscribers", ok, table.concat(counts, ","))

	-- a channel that does not exist on its owner: subscribing is silently ineffective
	local ghost = multicast.new { channel = c + 256 * 5 }
	check("multicast: subscribing to a missing remote channel does not raise", pcall(ghost.subscribe, ghost))
	-- harbor 7 has no multicastd
	local nowhere = multicast.new { channel = 7 }
	local okp, err = pcall(nowhere.publish, nowhere, "x")
	check("multicast: publishing to a harbor without multicastd fails the call", not okp, err)

	multicast.new { channel = c }:delete()
	skynet.sleep(50)
	datacenter.set("DELETED", true)
	skynet.error "DONE"
end

skynet.start(function()
	local ok, err = xpcall(ROLE[role], debug.traceback)
	if not ok then
		check("multicast node " .. role, false, err)
		skynet.error "DONE"
	end
end)
