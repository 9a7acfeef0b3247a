-- skynet/manager.lua -- service management functions added to the skynet
-- table: launch, kill, abort, register, name,
-- forward_type, filter, monitor.  Returns the skynet table.

local skynet = require "skynet"
local c = require "skynet.core"

local function parse_address(addr)
	if type(addr) == "string" and addr:byte(1) == 58 then -- ':'
		return tonumber(addr:sub(2), 16)
	end
	return addr
end

-- Launches a C service (or "snlua", name, ...) directly, without .launcher.
function skynet.launch(...)
	return (c.addresscommand("LAUNCH", table.concat({ ... }, " ")))
end

-- Retires a service at once.  For an address, .launcher is told first so
-- that a newservice still waiting for it fails and it leaves the list.
function skynet.kill(name)
	local handle = parse_address(name)
	if type(handle) == "number" then
		skynet.send(".launcher", "lua", "REMOVE", handle, true)
		name = skynet.address(handle)
	end
	c.command("KILL", name)
end

-- Retires every service; the process exits with `status` (default 0, an
-- extension of ours: upstream always exits 0).
function skynet.abort(status)
	if status then
		c.command("ABORT", tostring(status))
	else
		c.command "ABORT"
	end
end

-- A global name (no '.' prefix) goes through the harbor name service.
local function globalname(name, handle)
	local first = name:sub(1, 1)
	assert(first ~= ":", "can't register an address as a name")
	if first == "." then
		return false
	end
	assert(#name < 16, "global name must be shorter than 16 bytes")
	assert(tonumber(name) == nil, "global name can't be a number")
	local harbor = require "skynet.harbor"
	harbor.globalname(name, handle)
	return true
end

function skynet.register(name)
	if not globalname(name) then
		c.command("REG", name)
	end
end

function skynet.name(name, handle)
	if not globalname(name, handle) then
		c.command("NAME", name .. " " .. skynet.address(handle))
	end
end

local dispatch_message = skynet.dispatch_message

-- Like skynet.start, but an incoming message of type t with map[t] is
-- dispatched as type map[t] and not freed (its handler owns it); other
-- types are dispatched and then freed here.
function skynet.forward_type(map, start_func)
	c.callback(function(ptype, msg, sz, ...)
		local prototype = map[ptype]
		if prototype then
			dispatch_message(prototype, msg, sz, ...)
		else
			local ok, err = pcall(dispatch_message, ptype, msg, sz, ...)
			c.trash(msg, sz)
			if not ok then
				error(err, 0)
			end
		end
	end, true)
	skynet.timeout(0, function()
		skynet.init_service(start_func)
	end)
end

-- Like skynet.start, but every raw message goes through f first.
function skynet.filter(f, start_func)
	c.callback(function(...)
		dispatch_message(f(...))
	end)
	skynet.timeout(0, function()
		skynet.init_service(start_func)
	end)
end

-- Makes a (global unique) service the node's exit monitor: it receives a
-- PTYPE_CLIENT message from every service that retires.
function skynet.monitor(service, query)
	local monitor
	if query then
		monitor = skynet.queryservice(true, service)
	else
		monitor = skynet.uniqueservice(true, service)
	end
	assert(monitor, "Monitor launch failed")
	c.command("MONITOR", string.format(":%08x", monitor))
	return monitor
end

return skynet
