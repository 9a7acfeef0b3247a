-- snax_toplevel.lua -- a snax file with top-level code that needs a
-- global (print): test_snax.lua checks how the caller evaluates it with
-- and without snax_interface_g.
print "snax_toplevel evaluated"

function response.hi()
	return "from the file"
end
