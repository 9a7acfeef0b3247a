-- skynet/datacenter.lua -- client of the node-wide tree served by
-- datacenterd under the global name DATACENTER.

local skynet = require "skynet"

local datacenter = {}

-- get(k1, k2, ...) -> value at that path, or nil
function datacenter.get(...)
	return skynet.call("DATACENTER", "lua", "QUERY", ...)
end

-- set(k1, ..., kn, value) -> previous value
function datacenter.set(...)
	return skynet.call("DATACENTER", "lua", "UPDATE", ...)
end

-- wait(k1, ...) -> value, blocking until it is not nil
function datacenter.wait(...)
	return skynet.call_timeout(0, "DATACENTER", "lua", "WAIT", ...) -- waits until set, whatever call_timeout says
end

return datacenter
