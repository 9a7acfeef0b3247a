-- skynet/require_co.lua -- the coroutine half of skynet.require (see
-- skynet/require.lua): loads a module inside the requiring coroutine;
-- concurrent requirers of the same module wait for it; a wait that would
-- close a cycle raises "circular dependency".

local loaded = package.loaded
local searchers = package.searchers
local format = string.format

local loading = {}     -- module name -> { owner = coroutine, waiters = {...} }
local waiting_for = {} -- coroutine -> module name it waits for

local function find_loader(name)
	local msg = {}
	for i = 1, #searchers do
		local loader, extra = searchers[i](name)
		if type(loader) == "function" then
			return loader, extra
		elseif type(loader) == "string" then
			msg[#msg + 1] = "\n\t" .. loader
		end
	end
	error(format("module '%s' not found:%s", name, table.concat(msg)), 3)
end

local function wait_for(name, l, co)
	-- would waiting close a cycle of coroutines waiting for each other?
	local owner = l.owner
	while owner do
		if owner == co then
			error(format("circular dependency requiring '%s'", name), 3)
		end
		local n = waiting_for[owner]
		local ol = n and loading[n]
		owner = ol and ol.owner
	end
	waiting_for[co] = name
	l.waiters[#l.waiters + 1] = co
	loaded.skynet.wait(co)
	waiting_for[co] = nil
	local m = loaded[name]
	if m == nil then
		error(format("module '%s' failed to load in another coroutine", name), 3)
	end
	return m
end

return function(M, name, co)
	local l = loading[name]
	if l then
		return wait_for(name, l, co)
	end
	local loader, extra = find_loader(name)
	l = { owner = co, waiters = {} }
	loading[name] = l
	local collecting = M.collecting
	local inits = {}
	local outer = collecting[co]
	collecting[co] = inits
	local ok, ret = pcall(loader, name, extra)
	collecting[co] = outer
	if ok then
		if ret ~= nil then
			loaded[name] = ret
		elseif loaded[name] == nil then
			loaded[name] = true
		end
		for i = 1, #inits do
			ok, ret = pcall(inits[i])
			if not ok then
				loaded[name] = nil
				break
			end
		end
	end
	loading[name] = nil
	for _, w in ipairs(l.waiters) do
		loaded.skynet.wakeup(w)
	end
	if not ok then
		error(ret, 0)
	end
	return loaded[name], extra
end
