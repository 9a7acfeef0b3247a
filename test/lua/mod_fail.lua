-- mod_fail.lua -- helper: blocks, then raises.
local skynet = require "skynet"
skynet.sleep(5)
error("mod_fail exploded")
