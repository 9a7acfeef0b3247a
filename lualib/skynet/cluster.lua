-- skynet.cluster: services on several nodes calling each other
-- (upstream's API and wire format, byte for byte).
--
-- Requiring this module starts (or finds) the node's unique `clusterd`.
--
-- How a call travels.  cluster.call(node, addr, ...) packs the arguments
-- and, in this service, wraps them into a whole request frame with session
-- 0 (core.packfast).  That frame goes to the node's `clustersender` as a
-- message of the private protocol "cluster_req" (PTYPE_CLUSTER_REQ): a
-- skynet.call for cluster.call, a skynet.send for cluster.send.  The sender
-- patches in its own session number, writes the frame to the TCP
-- connection and, when the response frame comes back, answers our
-- skynet.call directly with the payload bytes, which this protocol's
-- unpack (skynet.unpack) turns into the results.  A failure comes back as
-- a PTYPE_ERROR whose text says what went wrong, so skynet.call raises
-- "call to <sender> failed: cluster node [<node>] ...: <why>".
--
-- Senders are looked up through clusterd once per node and cached here.
-- cluster.send never blocks: while the sender of a node is being looked
-- up, messages are queued and then delivered in order; calls made
-- meanwhile wait for that queue to drain, so sends and calls from one
-- service keep their order on the wire.

local skynet = require "skynet"
local core = require "skynet.cluster.core"
local S = require "skynet.internal"

local packfast, cpack = core.packfast, skynet.pack
local type, tostring, error = type, tostring, error
local format = string.format

local PTYPE_CLUSTER_REQ = 249 -- private: caller -> clustersender, see clustersender.lua

local cluster = {}
local clusterd
local sender = {}  -- node name -> sender address
local pending = {} -- node name -> { waiting coroutines..., queue = { {addr, ...}, ... } }

skynet.register_protocol {
	name = "cluster_req",
	id = PTYPE_CLUSTER_REQ,
	-- (addr, ...) -> internal request frame
	pack = function(addr, ...)
		return packfast(addr, cpack(...))
	end,
	unpack = skynet.unpack,
}

local function check_node(node)
	if type(node) ~= "string" then
		error("cluster: node name must be a string, got " .. type(node), 3)
	end
end

-- Asks clusterd for the node's sender (may block while clusterd waits for
-- a reload that names the node), delivers the sends queued meanwhile, and
-- wakes the callers that waited for it.
local function fetch_sender(node)
	local q = pending[node]
	local ok, addr, err = pcall(skynet.call, clusterd, "lua", "sender", node)
	pending[node] = nil
	if ok and not addr then
		ok, addr = false, err
	end
	if ok then
		sender[node] = addr
		-- a call to it that times out says which node did not answer
		S.callee_name = S.callee_name or {}
		S.callee_name[addr] = format("cluster node [%s]", node)
		for _, m in ipairs(q.queue) do
			local sok, err2 = pcall(skynet.send, addr, "cluster_req", table.unpack(m, 1, m.n))
			if not sok then
				skynet.error(string.format("cluster.send to node [%s] dropped: %s", node, tostring(err2)))
			end
		end
	elseif #q.queue > 0 then
		skynet.error(string.format("cluster: %d message(s) to node [%s] dropped: %s", #q.queue, node, tostring(addr)))
	end
	for _, co in ipairs(q) do
		skynet.wakeup(co)
	end
	return ok, addr
end

local function get_sender(node)
	local s = sender[node]
	if s then
		return s
	end
	check_node(node)
	local q = pending[node]
	if q then
		-- somebody else is fetching it: wait for the result
		q[#q + 1] = coroutine.running()
		skynet.wait()
		s = sender[node]
		if s then
			return s
		end
		-- the fetch failed: try ourselves (the error will be ours)
	end
	pending[node] = { queue = {} }
	local ok, addr = fetch_sender(node)
	if not ok then
		error("cluster: " .. tostring(addr), 3)
	end
	return addr
end

-- cluster.call(node, address, ...) -> the remote results
function cluster.call(node, address, ...)
	local s = sender[node] or get_sender(node)
	return skynet.call(s, "cluster_req", address, ...)
end

-- cluster.call_timeout(ti, node, address, ...): cluster.call that gives up
-- after ti centiseconds (<= 0: waits forever, whatever the config's
-- call_timeout says), raising "call to cluster node [<node>] timed out
-- after <ti> cs".  A late response is dropped.
function cluster.call_timeout(ti, node, address, ...)
	local s = sender[node] or get_sender(node)
	return skynet.call_timeout(ti, s, "cluster_req", address, ...)
end

-- cluster.send(node, address, ...): never raises for remote problems.
function cluster.send(node, address, ...)
	local s = sender[node]
	if s then
		skynet.send(s, "cluster_req", address, ...)
		return
	end
	check_node(node)
	local q = pending[node]
	if q then
		q.queue[#q.queue + 1] = table.pack(address, ...)
		return
	end
	q = { queue = { table.pack(address, ...) } }
	pending[node] = q
	skynet.fork(fetch_sender, node)
end

-- cluster.reload([map]): merge map (or re-read the `cluster` config file).
function cluster.reload(config)
	if config ~= nil and type(config) ~= "table" then
		error("cluster.reload: expects a table of node = \"host:port\" | false", 2)
	end
	skynet.call(clusterd, "lua", "reload", config)
end

-- cluster.open(port | nodename [, maxclient])
-- A node name listens on exactly the address the node map gives it and
-- returns the name; a port number listens on 0.0.0.0:port and returns the
-- address and port actually bound (port 0: any free port).
function cluster.open(port, maxclient)
	local ip, bound = skynet.call(clusterd, "lua", "listen",
		type(port) == "string" and port or "0.0.0.0", type(port) ~= "string" and port or nil, maxclient)
	if not ip then
		error("cluster.open: " .. tostring(bound), 2)
	end
	if type(port) == "string" then
		return port, nil
	end
	return ip, bound
end

-- cluster.proxy(node, name) / cluster.proxy("node@name") / ("node.name")
function cluster.proxy(node, name)
	if name == nil then
		if type(node) ~= "string" then
			error("Invalid name " .. tostring(node), 2)
		end
		local n, rest = node:match "^([^@.]+)([@.].+)$"
		if n == nil then
			error("Invalid name " .. node, 2)
		end
		node, name = n, rest
	end
	return skynet.call(clusterd, "lua", "proxy", node, name)
end

-- cluster.snax(node, name [, address]): a snax object for a snax service
-- on another node; without address, that node's unique instance of
-- `name` (waits until it exists there).  The service file must be
-- readable here too (for the method ids), and the remote service must call
-- snax.enablecluster() (requests arrive there as "lua").
function cluster.snax(node, name, address)
	local snax = require "skynet.snax"
	if not address then
		local addr, err = cluster.call(node, ".service", "QUERY", "snaxd", name)
		if addr == nil then
			error(string.format("cluster.snax: %s has no snax service %s: %s", node, name, tostring(err)), 2)
		end
		address = addr
	end
	local handle = skynet.call(clusterd, "lua", "proxy", node, address)
	return snax.bind(handle, name)
end

-- cluster.register(name [, addr]): make addr reachable as "@name"
function cluster.register(name, addr)
	assert(type(name) == "string", "cluster.register: name must be a string")
	assert(addr == nil or type(addr) == "number", "cluster.register: address must be a handle")
	return skynet.call(clusterd, "lua", "register", name, addr or skynet.self())
end

function cluster.unregister(name)
	assert(type(name) == "string", "cluster.unregister: name must be a string")
	return skynet.call(clusterd, "lua", "unregister", name)
end

-- cluster.query(node, name) -> the remote handle registered as name
function cluster.query(node, name)
	return cluster.call(node, 0, name)
end

function cluster.get_sender(node)
	return sender[node] or get_sender(node)
end

skynet.init(function()
	clusterd = skynet.uniqueservice("clusterd")
end)

return cluster
