-- mod_cycle_b.lua -- helper: requires mod_cycle_a (a cycle).
local a = require "mod_cycle_a"
return { a = a }
