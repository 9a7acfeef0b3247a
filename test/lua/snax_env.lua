-- snax_env.lua -- the snax_interface_g module of test_snax.lua: the
-- environment callers evaluate snax files in.
return { print = function() end, require = function() end }
