-- service_mgr.lua -- `.service` (and global SERVICE on the standalone
-- node): one instance per name of "unique" services.
--   LAUNCH name args...  start name once (concurrent callers wait for the
--                        same launch); a failed launch is remembered and
--                        every later LAUNCH/QUERY of that name fails
--   QUERY name           wait until name is launched
--   GLAUNCH / GQUERY     the same for node-wide names ("@name")
--   LIST, REPORT
-- Every reply is `address` or `nil, error message` (callers raise).

local skynet = require "skynet"
require "skynet.manager"

local cmd = {}
local service = {} -- name -> address | error string | table of waiters (launching)

-- Runs the launch of name and wakes the coroutines waiting for it.
local function request(name, func, ...)
	local ok, handle = pcall(func, ...)
	if ok and handle == nil then
		ok, handle = false, string.format("unique service %s exited during its start", name)
	end
	local s = service[name]
	assert(type(s) == "table")
	if ok then
		service[name] = handle
	else
		service[name] = tostring(handle)
	end
	for _, v in ipairs(s) do
		skynet.wakeup(v.co)
	end
	if ok then
		return handle
	end
	error(tostring(handle), 0)
end

local function waitfor(name, func, ...)
	local s = service[name]
	if type(s) == "number" then
		return s
	elseif type(s) == "string" then
		error(s, 0)
	end
	local co = coroutine.running()
	if s == nil then
		s = {}
		service[name] = s
	end
	local session, source = skynet.context()
	if s.launch == nil and func then
		s.launch = { session = session, source = source, co = co }
		return request(name, func, ...)
	end
	s[#s + 1] = { co = co, session = session, source = source }
	skynet.wait(co)
	s = service[name]
	if type(s) == "string" then
		error(s, 0)
	end
	assert(type(s) == "number")
	return s
end

local function read_name(service_name)
	if service_name:byte(1) == 64 then -- '@'
		return service_name:sub(2)
	end
	return service_name
end

function cmd.LAUNCH(service_name, subname, ...)
	local realname = read_name(service_name)
	if realname == "snaxd" then
		local snax = require "skynet.snax"
		return waitfor(service_name .. "." .. subname, snax.rawnewservice, subname, ...)
	end
	return waitfor(service_name, skynet.newservice, realname, subname, ...)
end

function cmd.QUERY(service_name, subname)
	if read_name(service_name) == "snaxd" then
		return waitfor(service_name .. "." .. subname)
	end
	return waitfor(service_name)
end

local function list_service()
	local result = {}
	for k, v in pairs(service) do
		if type(v) == "string" then
			v = "Error: " .. v
		elseif type(v) == "table" then
			local querying = {}
			if v.launch then
				local session = skynet.task(v.launch.co)
				local launching = session and skynet.call(".launcher", "lua", "QUERY", session)
				if launching then
					querying[#querying + 1] = "Init as " .. skynet.address(launching)
					querying[#querying + 1] = skynet.call(launching, "debug", "TASK", "init")
					querying[#querying + 1] = "Launching from " .. skynet.address(v.launch.source)
					querying[#querying + 1] = skynet.call(v.launch.source, "debug", "TASK", v.launch.session)
				end
			end
			if #v > 0 then
				querying[#querying + 1] = "Querying:"
				for _, detail in ipairs(v) do
					querying[#querying + 1] = skynet.address(detail.source) .. " " ..
						tostring(skynet.call(detail.source, "debug", "TASK", detail.session))
				end
			end
			v = table.concat(querying, "\n")
		else
			v = skynet.address(v)
		end
		result[k] = v
	end
	return result
end

local function register_global()
	function cmd.GLAUNCH(name, ...)
		return cmd.LAUNCH("@" .. name, ...)
	end

	function cmd.GQUERY(name, ...)
		return cmd.QUERY("@" .. name, ...)
	end

	local mgr = {}

	function cmd.REPORT(m)
		mgr[m] = true
	end

	local function add_list(all, m)
		local harbor = "@" .. skynet.harbor(m)
		local result = skynet.call(m, "lua", "LIST")
		for k, v in pairs(result) do
			all[k .. harbor] = v
		end
	end

	function cmd.LIST()
		local result = {}
		for k in pairs(mgr) do
			pcall(add_list, result, k)
		end
		for k, v in pairs(list_service()) do
			result[k] = v
		end
		return result
	end
end

local function register_local()
	local function waitfor_remote(c, name, ...)
		local global_name = "@" .. name
		local local_name = global_name
		if name == "snaxd" then
			local_name = global_name .. "." .. (...)
		end
		return waitfor(local_name, function(...)
			local addr, err = skynet.call_timeout(0, "SERVICE", "lua", c, global_name, ...) -- waits for a launch
			if addr == nil then
				error(err, 0)
			end
			return addr
		end, ...)
	end

	function cmd.GLAUNCH(...)
		return waitfor_remote("LAUNCH", ...)
	end

	function cmd.GQUERY(...)
		return waitfor_remote("QUERY", ...)
	end

	function cmd.LIST()
		return list_service()
	end

	skynet.call("SERVICE", "lua", "REPORT", skynet.self())
end

skynet.start(function()
	skynet.dispatch("lua", function(session, address, command, ...)
		local f = cmd[command]
		if f == nil then
			skynet.ret(skynet.pack(nil, "Invalid command " .. tostring(command)))
			return
		end
		local ok, r = pcall(f, ...)
		if ok then
			skynet.ret(skynet.pack(r))
		else
			skynet.ret(skynet.pack(nil, r))
		end
	end)
	local handle = skynet.localname ".service"
	if handle then
		skynet.error(".service is already registered by ", skynet.address(handle))
		skynet.exit()
	else
		skynet.register ".service"
	end
	if skynet.getenv "standalone" then
		skynet.register "SERVICE"
		register_global()
	else
		register_local()
	end
end)
