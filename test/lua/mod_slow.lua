-- mod_slow.lua -- helper module for test_require: its body blocks.
local skynet = require "skynet"
local M = { loads = 0, inited = false }
_G.MOD_SLOW_LOADS = (_G.MOD_SLOW_LOADS or 0) + 1
skynet.sleep(10)
skynet.init(function() M.inited = true end)
M.value = "slow"
return M
