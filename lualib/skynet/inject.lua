-- skynet/inject.lua -- runs a piece of Lua source inside the current
-- service (`skynet.inject`); the debug protocol's RUN,
-- and through it the console's `inject`, use it.
--
--   local inject = require "skynet.inject"
--   local ok, output = inject(skynet, source, filename, args)
--
-- The chunk runs with `args` (a table.pack) as `...` in an environment
-- that reads through to the service's globals, where
--   print   appends a line (values joined by TAB) to `output`
--   _P      protocol name -> table of the upvalues of its dispatch function
--   _U      _P.lua (the upvalues of the lua dispatch: usually the
--           service's command table and state)
-- Returns true or false (load or run failed: the error, with traceback,
-- is the last line) and the list of output lines.

local S = require "skynet.internal"

-- upvalues of f as a name -> value table
local function upvalues(f)
	local t = {}
	if type(f) == "function" then
		local i = 1
		while true do
			local name, value = debug.getupvalue(f, i)
			if name == nil then break end
			if name ~= "" then t[name] = value end
			i = i + 1
		end
	end
	return t
end

return function(_, source, filename, args)
	local output = {}
	local function print(...)
		local n = select("#", ...)
		local t = {}
		for i = 1, n do
			t[i] = tostring((select(i, ...)))
		end
		output[#output + 1] = table.concat(t, "\t")
	end
	local P = {}
	for k, p in pairs(S.proto) do
		if type(k) == "string" then
			P[k] = upvalues(p.dispatch)
		end
	end
	local env = setmetatable({ print = print, _P = P, _U = P.lua or {} }, { __index = _ENV })
	if type(source) ~= "string" then
		output[1] = "inject: no source (got " .. type(source) .. ")"
		return false, output
	end
	local f, err = load(source, "@" .. tostring(filename or "inject"), "bt", env)
	if not f then
		output[#output + 1] = err
		return false, output
	end
	args = args or {}
	local ok, e = xpcall(f, debug.traceback, table.unpack(args, 1, args.n or #args))
	if not ok then
		output[#output + 1] = tostring(e)
	end
	return ok, output
end
