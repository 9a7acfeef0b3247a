-- snax/interface.lua -- loads a snax service file and lists its methods
-- (the service file conventions and method ids of upstream).
--
--   interface(name, G [, loader]) -> methods, pattern
--
-- Runs the file once with G as its environment.  `accept.x` and
-- `response.x` definitions and the system hooks (init, exit, hotfix,
-- profile) are caught on the way; any other global the file assigns ends
-- up in G.  `methods[id] = { id, group, name, f }`: ids 1-4 are the
-- system hooks (f nil when the file does not define one), then every
-- accept/response method in definition order from 5.  Both the caller
-- (to learn the ids) and snaxd (to run the methods) use this, so the ids
-- agree as long as both read the same file.
--
-- `loader(path, name, G) -> chunk, pattern` finds and compiles the file;
-- the default tries each `;`-separated pattern of the config key `snax`
-- (or `path`) with `?` replaced by the name; the first that compiles wins.
local skynet = require "skynet"

local SYSTEM = { "init", "exit", "hotfix", "profile" }

local function default_loader(path, name, G)
	local errs = {}
	local escaped = name:gsub("%%", "%%%%")
	for pat in path:gmatch "[^;]+" do
		local filename = pat:gsub("%?", escaped)
		local f, err = loadfile(filename, "bt", G)
		if f then
			return f, pat
		end
		errs[#errs + 1] = err
	end
	if #errs == 0 then
		errs[1] = "no pattern in snax path '" .. path .. "'"
	end
	error(table.concat(errs, "\n"), 0)
end

-- A write-only table collecting `function <group>.<name>` definitions.
local function method_group(methods, group)
	local seen = {}
	return setmetatable({}, {
		__newindex = function(_, name, f)
			if type(name) ~= "string" then
				error(string.format("%s method only support string", group), 2)
			end
			if type(f) ~= "function" then
				error(string.format("%s.%s must be function", group, name), 2)
			end
			if seen[name] then
				error(string.format("%s.%s duplicate definition", group, name), 2)
			end
			seen[name] = true
			methods[#methods + 1] = { #methods + 1, group, name, f }
		end,
	})
end

return function(name, G, loader)
	local path = skynet.getenv "snax"
	if path == nil then
		error("please set snax in config file", 2)
	end
	local methods, system = {}, {}
	for id, hook in ipairs(SYSTEM) do
		system[hook] = id
		methods[id] = { id, "system", hook }
	end
	local assigned = {} -- other globals the file assigns, moved to G afterwards
	local env = setmetatable({
		accept = method_group(methods, "accept"),
		response = method_group(methods, "response"),
	}, { __index = assigned })
	local function assign(_, k, v)
		local id = system[k]
		if id then
			if type(v) ~= "function" then
				error(string.format("%s must be a function", k), 2)
			end
			methods[id][4] = v
		else
			assigned[k] = v
		end
	end
	local main, pattern = (loader or default_loader)(path, name, G)
	local old_mt = getmetatable(G)
	setmetatable(G, { __index = env, __newindex = assign })
	local ok, err = xpcall(main, debug.traceback)
	setmetatable(G, old_mt)
	if not ok then
		error(err, 0)
	end
	for k, v in pairs(assigned) do
		G[k] = v
	end
	return methods, pattern
end
