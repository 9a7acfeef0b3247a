-- service_provider.lua -- the unique service behind skynet.service: one
-- service_cell per name.
--   test name            -> address | nil, booting
--   launch name code ... -> address (after its start function ran)
--   query name           -> address (waits while it boots)
--   close name           -> address or nil (the caller kills it)
-- A failed launch is remembered: later launch/query of the name raise it.

local skynet = require "skynet"

local svr = {} -- name -> { address=, booting=, error=, waiting={responses}, time=, init= }
local provider = {}

local function new_entry(name)
	local s = svr[name]
	if s == nil then
		s = { waiting = {} }
		svr[name] = s
	end
	return s
end

function provider.test(name)
	local s = svr[name]
	if s == nil then
		return nil, false
	end
	return s.address, s.booting or false
end

function provider.query(name)
	local s = new_entry(name)
	if s.error then
		error(s.error)
	end
	if s.address then
		return s.address
	end
	s.waiting[#s.waiting + 1] = skynet.response()
	return skynet.ignoreret
end

function provider.launch(name, code, ...)
	local s = new_entry(name)
	if s.address or s.booting then
		if s.address then return s.address end
		s.waiting[#s.waiting + 1] = skynet.response()
		return skynet.ignoreret
	end
	s.booting = true
	s.error = nil
	s.init = skynet.now()
	local ok, addr = pcall(skynet.newservice, "service_cell", name)
	if ok then
		ok, addr = pcall(skynet.call, addr, "lua", "init", code, ...)
		ok = ok and addr
	end
	s.booting = nil
	if ok then
		s.address = ok
		s.time = skynet.now()
	else
		s.error = tostring(addr)
	end
	local waiting = s.waiting
	s.waiting = {}
	for _, resp in ipairs(waiting) do
		if ok then resp(true, s.address) else resp(false, s.error) end
	end
	if not ok then
		error(s.error, 0)
	end
	return s.address
end

function provider.close(name)
	local s = svr[name]
	if s == nil or s.address == nil then
		return nil
	end
	svr[name] = nil
	return s.address
end

skynet.info_func(function()
	local info = {}
	for name, s in pairs(svr) do
		info[#info + 1] = {
			name = name,
			init = s.init,
			time = s.time,
			status = s.error and ("error: " .. s.error) or (s.booting and "booting") or (s.address and skynet.address(s.address)),
		}
	end
	return info
end)

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = provider[cmd]
		if f == nil then
			error("service_provider: unknown command " .. tostring(cmd))
		end
		local r = table.pack(f(...))
		if r[1] ~= skynet.ignoreret then
			skynet.retpack(table.unpack(r, 1, r.n))
		end
	end)
end)
