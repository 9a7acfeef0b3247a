-- launcher.lua -- `.launcher`: launches snlua services for newservice and
-- keeps the list of services it started.
--
-- LAUNCH does not answer at once: the reply waits until the new service
-- reports LAUNCHOK (its start function returned: reply its address) or
-- ERROR (reply PTYPE_ERROR).  A Lua "ERROR" may carry the reason (sent by
-- the loader or skynet.init_service of the failing service); it becomes
-- the error text the newservice caller sees.  C services (and snlua when
-- the loader fails) use the text protocol: "" = LAUNCHOK, "ERROR".

local skynet = require "skynet"
local core = require "skynet.core"
require "skynet.manager"

local services = {}       -- address -> "module args"
local instance = {}       -- address -> response to the LAUNCH caller, until init ends
local launch_session = {} -- address -> session of the LAUNCH request (for QUERY)
local command = {}
local NORET = {}

function command.LIST()
	local list = {}
	for k, v in pairs(services) do
		list[skynet.address(k)] = v
	end
	return list
end

-- Asks every service a debug command; returns address -> fmt(result).
local function list_srv(ti, fmt, cmd, ...)
	local list = {}
	local req = skynet.request()
	for addr in pairs(services) do
		req:add { addr, "debug", cmd, ... }
	end
	local answered = {}
	for r, resp in req:select(ti) do
		local addr = r[1]
		answered[addr] = true
		if resp then
			list[skynet.address(addr)] = fmt(resp[1], addr)
		else
			list[skynet.address(addr)] = fmt("ERROR", addr)
		end
	end
	req:close()
	for addr in pairs(services) do
		if not answered[addr] then
			list[skynet.address(addr)] = fmt("TIMEOUT", addr)
		end
	end
	return list
end

function command.STAT(_, ti)
	return list_srv(ti, function(v) return v end, "STAT")
end

function command.MEM(_, ti)
	return list_srv(ti, function(kb, addr)
		local v = services[addr]
		if type(kb) == "string" then
			return string.format("%s (%s)", kb, v)
		end
		return string.format("%.2f Kb (%s)", kb, v)
	end, "MEM")
end

function command.GC(addr, ti)
	for k in pairs(services) do
		skynet.send(k, "debug", "GC")
	end
	return command.MEM(addr, ti)
end

function command.KILL(_, handle)
	handle = tonumber(handle) or handle
	skynet.kill(handle)
	local ret = { [skynet.address(handle)] = tostring(services[handle]) }
	services[handle] = nil
	return ret
end

-- Sent by a service that exits (kill false) or by skynet.kill (kill true).
function command.REMOVE(_, handle, kill)
	services[handle] = nil
	local response = instance[handle]
	if response then
		instance[handle] = nil
		launch_session[handle] = nil
		if kill then
			response(false, string.format("%s was killed before its start function finished", skynet.address(handle)))
		else
			response(true) -- exited during init: newservice returns nil
		end
	end
	return NORET -- the sender may be gone
end

local function launch_service(service, ...)
	local param = table.concat({ ... }, " ")
	local inst = skynet.launch(service, param)
	local session = skynet.context()
	local response = skynet.response()
	if inst then
		services[inst] = service .. " " .. param
		instance[inst] = response
		launch_session[inst] = session
	else
		response(false, string.format("launch %s %s failed", service, param))
	end
	return inst
end

function command.LAUNCH(_, service, ...)
	launch_service(service, ...)
	return NORET
end

function command.LOGLAUNCH(_, service, ...)
	local inst = launch_service(service, ...)
	if inst then
		core.command("LOGON", skynet.address(inst))
	end
	return NORET
end

-- Init of address failed; errmsg (optional) says why.
function command.ERROR(address, errmsg)
	local response = instance[address]
	if response then
		instance[address] = nil
		launch_session[address] = nil
		response(false, errmsg)
	end
	services[address] = nil
	return NORET
end

function command.LAUNCHOK(address)
	local response = instance[address]
	if response then
		instance[address] = nil
		launch_session[address] = nil
		response(true, address)
	end
	return NORET
end

function command.QUERY(_, request_session)
	for address, session in pairs(launch_session) do
		if session == request_session then
			return address
		end
	end
end

skynet.register_protocol {
	name = "text",
	id = skynet.PTYPE_TEXT,
	unpack = skynet.tostring,
	dispatch = function(session, address, cmd)
		if cmd == "" then
			command.LAUNCHOK(address)
		elseif cmd == "ERROR" then
			command.ERROR(address)
		else
			error("Invalid text command " .. tostring(cmd))
		end
	end,
}

skynet.dispatch("lua", function(session, address, cmd, ...)
	cmd = string.upper(cmd)
	local f = command[cmd]
	if f then
		local ret = f(address, ...)
		if ret ~= NORET then
			skynet.ret(skynet.pack(ret))
		end
	else
		skynet.ret(skynet.pack { "Unknown command" })
	end
end)

skynet.start(function() end)
