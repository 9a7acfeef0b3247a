-- svc_stm_reader.lua -- the other service of test_stm:
--   init(ptr)  read() -> changed, unpacked values     (skynet.stm)
--   map(ptr)   fields() -> changed, x, y, s   write() -> pcall of a field write  (skynet.sharemap)
local skynet = require "skynet"
local stm = require "skynet.stm"
local sharemap = require "skynet.sharemap"

local reader, map

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ptr)
		if cmd == "init" then
			reader = stm.newcopy(ptr)
			skynet.retpack(true)
		elseif cmd == "read" then
			skynet.retpack(reader(function(msg, sz) return skynet.unpack(msg, sz) end))
		elseif cmd == "map" then
			map = sharemap.reader("foobar", ptr)
			skynet.retpack(true)
		elseif cmd == "fields" then
			local changed = map:update()
			skynet.retpack(changed, map.x, map.y, map.s)
		elseif cmd == "write" then
			skynet.retpack(pcall(function() map.x = 2 end))
		end
	end)
end)
