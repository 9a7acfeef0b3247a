-- multicastd.lua -- the channels of skynet.multicast on this node.
--
-- A channel id's low byte is the harbor id of the node that created it
-- (its owner).  Each node keeps, per channel, the group of its own
-- subscribers; the owner also keeps the set of other nodes with
-- subscribers.  A publish on a channel owned elsewhere goes to the owner's
-- multicastd (as PTYPE_MULTICAST: session = channel, source = publisher,
-- payload = the packed bytes); the owner delivers to its group and to each
-- subscribed node, whose multicastd delivers to its own group.
-- Commands (lua): NEW -> id; PUB(c, package, size); SUB(c); USUB(c); DEL(c);
-- from other nodes: SUBR(c) -> true if no such channel; USUBR(c); DELR(c).

local skynet = require "skynet"
local mc = require "skynet.multicast.core"
local datacenter = require "skynet.datacenter"

local harbor_id = skynet.harbor(skynet.self())

local groups = {}  -- channel -> { list = { addr... }, pos = { [addr] = index } }
local owned = {}   -- channel owned here -> set of subscribed harbor ids
local next_id = harbor_id

-- other nodes' multicastd, found in the datacenter when first needed
local node_address = setmetatable({}, {
	__index = function(t, id)
		local addr = datacenter.get("multicast", id)
		if addr == nil then
			error(string.format("multicast: no multicastd on harbor %d", id), 0)
		end
		t[id] = addr
		return addr
	end,
})

local function owner(c)
	return c & 0xff
end

local function group_add(c, addr)
	local g = groups[c]
	if g == nil then
		g = { list = {}, pos = {} }
		groups[c] = g
	end
	if g.pos[addr] == nil then
		local n = #g.list + 1
		g.list[n] = addr
		g.pos[addr] = n
	end
end

-- returns true when the group is empty afterwards
local function group_remove(c, addr)
	local g = groups[c]
	if g == nil then
		return true
	end
	local i = g.pos[addr]
	if i then
		local list = g.list
		local n = #list
		local last = list[n]
		list[i] = last
		g.pos[last] = i
		list[n] = nil
		g.pos[addr] = nil
	end
	return #g.list == 0
end

-- one delivery per local subscriber; subscribers found dead are dropped
local function deliver(c, source, pkg)
	local g = groups[c]
	if g == nil then
		mc.bind(pkg, 0)
		return
	end
	local list = g.list
	local dead = table.pack(mc.fanout(pkg, c, source, list, #list))
	for i = 1, dead.n do
		group_remove(c, dead[i])
	end
end

-- the owner sends a copy to every node with subscribers, then delivers here
local function publish(c, source, pkg)
	local nodes = owned[c]
	if nodes == nil then -- deleted (or never created): nothing to do
		mc.bind(pkg, 0)
		return
	end
	for node in pairs(nodes) do
		local msg, sz = mc.copy(pkg)
		skynet.redirect(node_address[node], source, "multicast", c, msg, sz)
	end
	deliver(c, source, pkg)
end

local CMD = {}

function CMD.NEW()
	local c = next_id
	while owned[c] do
		c = (c + 256) & 0x7fffffff
	end
	next_id = (c + 256) & 0x7fffffff
	owned[c] = {}
	return c
end

function CMD.PUB(source, c, pkg, size)
	if owner(c) == harbor_id then
		publish(c, source, pkg)
	else
		local ok, addr = pcall(function() return node_address[owner(c)] end)
		if not ok then
			mc.bind(pkg, 0)
			error(addr, 0)
		end
		local msg, sz = mc.copy(pkg)
		mc.bind(pkg, 0)
		skynet.redirect(addr, source, "multicast", c, msg, sz)
	end
end

function CMD.SUB(source, c)
	if owner(c) == harbor_id then
		if owned[c] == nil then
			error(string.format("multicast: no channel %d", c), 0)
		end
	elseif groups[c] == nil then
		-- first local subscriber of a remote channel: tell its owner
		local missing = skynet.call(node_address[owner(c)], "lua", "SUBR", c)
		if missing then
			return -- the object believes it is subscribed; nothing arrives (as upstream)
		end
	end
	group_add(c, source)
end

function CMD.USUB(source, c)
	if group_remove(c, source) then
		groups[c] = nil
		if owner(c) ~= harbor_id then
			skynet.send(node_address[owner(c)], "lua", "USUBR", c)
		end
	end
end

function CMD.DEL(source, c)
	if owner(c) ~= harbor_id then
		skynet.send(node_address[owner(c)], "lua", "DEL", c)
		return
	end
	local nodes = owned[c]
	if nodes == nil then
		return
	end
	owned[c] = nil
	groups[c] = nil
	for node in pairs(nodes) do
		skynet.send(node_address[node], "lua", "DELR", c)
	end
end

-- from another node's multicastd; its address is remembered here, so
-- that forwarding a publish never waits for the datacenter (a publish
-- from another node that waited could overtake the one before it)
function CMD.SUBR(source, c)
	local nodes = owned[c]
	if nodes == nil then
		return true
	end
	local h = skynet.harbor(source)
	rawset(node_address, h, source)
	nodes[h] = true
end

function CMD.USUBR(source, c)
	local nodes = owned[c]
	if nodes then
		nodes[skynet.harbor(source)] = nil
	end
end

function CMD.DELR(source, c)
	groups[c] = nil
end

-- a publish forwarded by another node: to the owner from a publisher's
-- node, or from the owner to a subscribing node
local function remote_publish(c, source, msg, sz)
	local pkg = mc.packcopy(msg, sz)
	if owner(c) == harbor_id then
		publish(c, source, pkg)
	else
		deliver(c, source, pkg)
	end
end

skynet.register_protocol {
	name = "multicast",
	id = skynet.PTYPE_MULTICAST,
	unpack = function(msg, sz) return msg, sz end,
	dispatch = function(c, source, msg, sz)
		skynet.ignoreret()
		remote_publish(c, source, msg, sz)
	end,
}

skynet.start(function()
	datacenter.set("multicast", harbor_id, skynet.self())
	skynet.dispatch("lua", function(session, source, cmd, c, ...)
		local f = CMD[cmd]
		if f == nil then
			error("multicastd: unknown command " .. tostring(cmd))
		end
		if cmd ~= "NEW" and math.type(c) ~= "integer" then
			error(string.format("multicastd: %s: bad channel %s", cmd, tostring(c)))
		end
		if session == 0 then
			f(source, c, ...)
		else
			skynet.retpack(f(source, c, ...))
		end
	end)
end)
