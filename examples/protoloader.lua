-- protoloader: parses the example's schemas once and stores them in the
-- process-wide sprotoloader slots, 1 (client -> server) and 2 (server ->
-- client), where every agent loads them without parsing again.
-- Started with skynet.uniqueservice by main.lua.
--
-- It never calls skynet.exit(): the slots live in luaclib/sproto.so, and
-- a service that keeps the library loaded keeps them valid.
package.path = "./examples/?.lua;" .. package.path

local skynet = require "skynet"
local sprotoloader = require "sprotoloader"
local proto = require "proto"

local C2S, S2C = 1, 2

skynet.start(function()
	sprotoloader.save(proto.c2s, C2S)
	sprotoloader.save(proto.s2c, S2C)
end)
