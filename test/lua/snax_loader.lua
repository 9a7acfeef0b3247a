-- snax_loader.lua -- the snax_loader file of test_snax.lua: snaxd gets its
-- service code from here (same method ids as snax_toplevel.lua, other
-- results) instead of searching the snax path.
return function(_, name, G)
	local src = "function response.hi() return 'from the loader' end"
	return load(src, "=loader:" .. name, "t", G), "./test/lua/?.lua"
end
