-- mod_init.lua -- helper: registers an init function at top-level require.
local skynet = require "skynet"
local M = { order = {} }
skynet.init(function() M.order[#M.order + 1] = "init" end)
return M
