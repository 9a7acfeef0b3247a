-- skynet/multicast.lua -- publish/subscribe channels (service multicastd).
--
--   local mc = require "skynet.multicast"
--   local chan = mc.new { channel = id?, pack = skynet.pack, unpack = skynet.unpack,
--                         dispatch = function(chan, source, ...) end }
--   chan.channel                       the id; tostring(chan) = "[Multicast:<hex id>]"
--   chan:publish(...)  chan:subscribe()  chan:unsubscribe()  chan:delete()
--
-- Each published message is packed once; every local subscriber reads that
-- one copy (lualib-src/lua-multicast.c).  Subscribers get it as a
-- PTYPE_MULTICAST message whose session is the channel id and whose source
-- is the publisher.

local skynet = require "skynet"
local mc = require "skynet.multicast.core"

local multicastd
local multicast = {}
local dispatch = {} -- channel -> subscribed object (keeps it alive, as upstream)

local chan = {}
local chan_meta = {
	__index = chan,
	__gc = function(self)
		self:unsubscribe()
	end,
	__tostring = function(self)
		return string.format("[Multicast:%x]", self.channel or -1)
	end,
}

function multicast.new(conf)
	assert(multicastd, "Init first")
	conf = conf or {}
	local self = {
		channel = conf.channel,
		__pack = conf.pack or skynet.pack,
		__unpack = conf.unpack or skynet.unpack,
		__dispatch = conf.dispatch,
	}
	if self.channel == nil then
		self.channel = skynet.call(multicastd, "lua", "NEW")
	end
	return setmetatable(self, chan_meta)
end

function chan:delete()
	local c = assert(self.channel, "multicast: the channel is deleted")
	skynet.send(multicastd, "lua", "DEL", c)
	if dispatch[c] == self then
		dispatch[c] = nil
	end
	self.channel = nil
	self.__subscribe = nil
end

function chan:publish(...)
	local c = assert(self.channel, "multicast: publish on a deleted channel")
	skynet.call(multicastd, "lua", "PUB", c, mc.pack(self.__pack(...)))
end

function chan:subscribe()
	local c = assert(self.channel, "multicast: subscribe to a deleted channel")
	if self.__subscribe then
		return
	end
	skynet.call(multicastd, "lua", "SUB", c)
	self.__subscribe = true
	dispatch[c] = self
end

function chan:unsubscribe()
	if not self.__subscribe then
		return
	end
	local c = self.channel
	self.__subscribe = nil
	if c then
		if dispatch[c] == self then
			dispatch[c] = nil
		end
		skynet.send(multicastd, "lua", "USUB", c)
	end
end

local function call_dispatch(self, source, data, size)
	local f = self.__dispatch
	if f then
		f(self, source, self.__unpack(data, size))
	end
end

-- Deliveries being dispatched: a dispatch function that ends the service
-- (skynet.exit) never returns, so they are closed when the VM is.
local open = setmetatable({}, {
	__gc = function(t)
		for pkg in pairs(t) do
			mc.close(pkg)
		end
	end,
})

-- the delivery is closed whatever the dispatch function does
local function dispatch_subscribe(channel, source, pkg, data, size)
	skynet.ignoreret()
	local self = dispatch[channel]
	if self == nil then -- unsubscribed meanwhile: dropped
		mc.close(pkg)
		return
	end
	open[pkg] = true
	local ok, err = pcall(call_dispatch, self, source, data, size)
	open[pkg] = nil
	mc.close(pkg)
	if not ok then
		error(err, 0)
	end
end

skynet.register_protocol {
	name = "multicast",
	id = skynet.PTYPE_MULTICAST,
	unpack = mc.unpack,
	dispatch = dispatch_subscribe,
}

skynet.init(function()
	multicastd = skynet.uniqueservice "multicastd"
end)

return multicast
