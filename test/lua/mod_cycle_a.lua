-- mod_cycle_a.lua -- helper: requires mod_cycle_b, which requires us.
local b = require "mod_cycle_b"
return { b = b }
