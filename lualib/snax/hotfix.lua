-- snax/hotfix.lua -- applies a patch to the methods of the running snax
-- service.  Loaded only by snaxd.
--
--   hotfix(methods, source, ...) -> true, results... | false, error
--
-- The patch is a snax file of its own, evaluated with a snapshot of the
-- service's globals as environment (its global assignments stay there).
-- Each function it defines replaces the method of the same group and name
-- (it must exist: a patch cannot add methods).  The new function's
-- upvalues that the patch left nil (`local i`) or that are the patch's
-- _ENV are joined, by name, to the variables the old methods captured, so
-- the new code shares the old state and the service's real globals.
-- Other upvalues (`local x = 1000`) stay new variables.
--
-- A patch that does not compile is refused with the compiler's message
-- (upstream lost it).  On an error after some methods were replaced, those
-- stay replaced and nothing later is applied, as upstream.
local interface = require "snax.interface"

local G = _G -- the service's globals (snaxd loads its file with them)

-- Taken once: the environment patches run in.
local snapshot = {}
for _, lib in ipairs { "io", "os", "utf8", "debug", "math" } do
	local _ = G[lib] -- open the libraries snlua opens on first use
end
for k, v in pairs(G) do
	snapshot[k] = v
end

local getupvalue, upvalueid, upvaluejoin, setupvalue =
	debug.getupvalue, debug.upvalueid, debug.upvaluejoin, debug.setupvalue

local function is_lua(f)
	return type(f) == "function" and debug.getinfo(f, "S").what ~= "C"
end

-- Id of f's _ENV upvalue, or nil.
local function env_id(f)
	local i = 1
	while true do
		local name = getupvalue(f, i)
		if name == nil then
			return nil
		end
		if name == "_ENV" then
			return upvalueid(f, i)
		end
		i = i + 1
	end
end

-- Collects f's upvalues by name into uv: {func, index, id}.  Function
-- upvalues sharing f's _ENV (local functions of the same file) are walked
-- too.  One name bound to two different variables is ambiguous.
local function collect(f, uv, env, visited)
	if visited[f] then
		return
	end
	visited[f] = true
	local i = 1
	while true do
		local name, value = getupvalue(f, i)
		if name == nil then
			break
		end
		local id = upvalueid(f, i)
		local old = uv[name]
		if old then
			if old.id ~= id then
				error(string.format("ambiguity local value %s", name), 0)
			end
		else
			uv[name] = { func = f, index = i, id = id }
			if is_lua(value) and env_id(value) == env then
				collect(value, uv, env, visited)
			end
		end
		i = i + 1
	end
end

local function collect_all(methods)
	local uv, visited = {}, {}
	for _, m in ipairs(methods) do
		local f = m[4]
		if is_lua(f) then
			collect(f, uv, env_id(f), visited)
		end
	end
	return uv
end

-- Joins the nil (and _ENV) upvalues of the patch function f to the old
-- variables of the same name.
local function rebind(f, uv, patch_env, visited)
	if visited[f] then
		return
	end
	visited[f] = true
	local i = 1
	while true do
		local name, value = getupvalue(f, i)
		if name == nil then
			break
		end
		if value == nil or (name == "_ENV" and value == patch_env) then
			local old = uv[name]
			if old then
				upvaluejoin(f, i, old.func, old.index)
			elseif name == "_ENV" then
				setupvalue(f, i, G) -- no old method used a global
			end
		elseif is_lua(value) then
			rebind(value, uv, patch_env, visited)
		end
		i = i + 1
	end
end

local function find(methods, group, name)
	for _, m in ipairs(methods) do
		if m[2] == group and m[3] == name then
			return m
		end
	end
end

local function apply(methods, source, ...)
	local patch_env = snapshot
	local chunk, err = load(source, "=patch", "bt", patch_env)
	if chunk == nil then
		error("patch does not compile: " .. tostring(err), 0)
	end
	local patch = interface("patch", patch_env, function()
		return chunk, "?"
	end)
	local uv = collect_all(methods)
	local hotfix_f
	for _, m in ipairs(patch) do
		local f = m[4]
		if f then
			local old = find(methods, m[2], m[3])
			if old == nil then
				error(string.format("Patch mismatch %s.%s", m[2], m[3]), 0)
			end
			rebind(f, uv, patch_env, {})
			old[4] = f
			if m[2] == "system" and m[3] == "hotfix" then
				hotfix_f = f
			end
		end
	end
	if hotfix_f then
		return hotfix_f(...)
	end
end

return function(methods, source, ...)
	return pcall(apply, methods, source, ...)
end
