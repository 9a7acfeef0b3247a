-- clusterd: the node's cluster registry (api-cluster-db.md §1), one per
-- node, started by the first `require "skynet.cluster"`.
--
-- It owns
--   * the node map: node name -> "host:port" | false, from the file named by
--     the `cluster` config key and from cluster.reload; options (`__name`);
--   * one clustersender per remote node, created on first use;
--   * one clusterproxy per (node, name) asked for with cluster.proxy;
--   * the registry of names served as "@name" (cluster.register);
--   * the listening sockets of cluster.open, and one clusteragent per
--     accepted connection (the agent reads the socket itself; there is no
--     gate in between).
--
-- Commands ("lua"): reload(map), listen(addr, port, maxclient), sender(node)
-- (-> address, or nil and why),
-- senders(), proxy(node, name), register(name, addr), unregister(name),
-- queryname(name), names() (agents subscribe), agentexit(fd).
--
-- A node that is not in the map: by default a call to it fails at once
-- ("cluster node [x] is absent."); with `__nowaiting = false` in the map the
-- call waits for a reload that names it (upstream's default), logging
-- "Waiting for cluster node [x]".

local skynet = require "skynet"
local socket = require "skynet.socket"
local core = require "skynet.cluster.core"

local format = string.format

local node_address = {} -- node name -> "host:port" | false
local options = { nowaiting = true }
local waiting = {}      -- node name -> coroutines waiting for it to appear
local senders = {}      -- node name -> sender address
local creating = {}     -- node name / proxy key -> coroutines waiting for a launch
local proxies = {}      -- "node\0name" -> proxy address
local names = {}        -- registered name -> handle
local handle_name = {}  -- handle -> registered name
local agents = {}       -- agent address -> true (subscribed to name changes)
local connections = {}  -- socket id -> { agent = addr | nil, listen = listen id }
local listeners = {}    -- listen socket id -> { maxclient, count }
local nodename = core.nodename()

local CMD = {}

----------------------------------------------------------------------------
-- Node map.

local function check_address(name, addr)
	if addr == false then
		return
	end
	if type(addr) ~= "string" or not (addr:match "^%[.-%]:%d+$" or addr:match "^[^:]+:%d+$") then
		error(format("cluster: invalid address %s for node [%s] (want \"host:port\" or false)",
			tostring(addr), tostring(name)), 0)
	end
end

local function load_config()
	local path = skynet.getenv "cluster"
	if not path then
		return {}
	end
	local env = {}
	local f, err = loadfile(path, "t", env)
	if not f then
		error(format("cluster: cannot load %s: %s", path, err), 0)
	end
	f()
	return env
end

local function set_option(name, value)
	local opt = name:sub(3)
	skynet.error(format("Config %s = %s", name, tostring(value)))
	options[opt] = value
end

-- Merges a node map (nil: the `cluster` file).
function CMD.reload(config)
	config = config or load_config()
	for name, addr in pairs(config) do
		if type(name) ~= "string" then
			error("cluster: node names must be strings", 0)
		end
		if name:sub(1, 2) == "__" then
			set_option(name, addr)
		else
			check_address(name, addr)
		end
	end
	for name, addr in pairs(config) do
		if name:sub(1, 2) ~= "__" and node_address[name] ~= addr then
			node_address[name] = addr
			local s = senders[name]
			if s then
				-- a call, so the change is in effect when reload returns
				skynet.call(s, "lua", "changenode", addr)
			end
			local w = waiting[name]
			if w then
				waiting[name] = nil
				skynet.error(format("Cluster node [%s] resolved : %s", name, tostring(addr)))
				for _, co in ipairs(w) do
					skynet.wakeup(co)
				end
			end
		end
	end
end

-- Waits until `key` is no longer being launched by another coroutine.
local function wait_launch(key)
	local w = creating[key]
	if w then
		w[#w + 1] = coroutine.running()
		skynet.wait()
		return true
	end
	creating[key] = {}
	return false
end

local function end_launch(key)
	local w = creating[key]
	creating[key] = nil
	for _, co in ipairs(w) do
		skynet.wakeup(co)
	end
end

function CMD.sender(node)
	while true do
		local s = senders[node]
		if s then
			return s
		end
		local addr = node_address[node]
		if addr == false then
			return nil, format("cluster node [%s] is down", node)
		elseif addr == nil then
			if options.nowaiting then
				return nil, format("cluster node [%s] is absent.", node)
			end
			skynet.error(format("Waiting for cluster node [%s]", node))
			local w = waiting[node]
			if not w then
				w = {}
				waiting[node] = w
			end
			w[#w + 1] = coroutine.running()
			skynet.wait()
		elseif not wait_launch(node) then
			local ok, s = pcall(skynet.newservice, "clustersender", node, nodename, addr)
			if ok then
				senders[node] = s
				-- the address may have changed during the launch
				if node_address[node] ~= addr then
					skynet.call(s, "lua", "changenode", node_address[node])
				end
			end
			end_launch(node)
			if not ok then
				return nil, format("cluster node [%s]: cannot start its sender: %s", node, tostring(s))
			end
			return s
		end
	end
end

function CMD.senders()
	return senders
end

function CMD.proxy(node, name)
	if type(name) == "string" and name:match "^%d+$" then
		name = tonumber(name)
	end
	local key = node .. "\0" .. tostring(name)
	while true do
		local p = proxies[key]
		if p then
			return p
		end
		if not wait_launch(key) then
			local ok, addr = pcall(skynet.newservice, "clusterproxy", node, name, skynet.self())
			if ok then
				proxies[key] = addr
			end
			end_launch(key)
			if not ok then
				error(addr, 0)
			end
			return addr
		end
	end
end

----------------------------------------------------------------------------
-- Name registry.

local function publish(name, handle)
	for agent in pairs(agents) do
		skynet.send(agent, "lua", "name", name, handle)
	end
end

function CMD.register(name, handle)
	if names[name] then
		error(format("cluster.register: name [%s] is already registered (:%08x)", name, names[name]), 0)
	end
	local old = handle_name[handle]
	if old then
		names[old] = nil
		publish(old, nil)
	end
	names[name] = handle
	handle_name[handle] = name
	publish(name, handle)
	skynet.error(format("Register [%s] :%08x", name, handle))
end

function CMD.unregister(name)
	local handle = names[name]
	if not handle then
		return
	end
	names[name] = nil
	handle_name[handle] = nil
	publish(name, nil)
	skynet.error(format("Unregister [%s] :%08x", name, handle))
end

function CMD.queryname(name)
	return names[name]
end

-- An agent subscribes to name changes and gets the current registry.
function CMD.names()
	local _, source = skynet.context()
	agents[source] = true
	return names
end

----------------------------------------------------------------------------
-- Listening.

local function parse_hostport(addr)
	local h, p = addr:match "^%[(.-)%]:(%d+)$"
	if not h then
		h, p = addr:match "^(.*):(%d+)$"
	end
	return h, tonumber(p)
end

local function new_agent(fd, addr, lid)
	local l = listeners[lid]
	local ok, agent = pcall(skynet.newservice, "clusteragent", skynet.self(), fd, addr)
	if not ok then
		skynet.error(format("cluster: cannot start an agent for %s: %s", addr, tostring(agent)))
		socket.close_fd(fd)
		connections[fd] = nil
		if l then l.count = l.count - 1 end
		return
	end
	local conn = connections[fd]
	if conn then
		conn.agent = agent
	end
end

-- listen(addr, port, maxclient) / listen(nodename, nil, maxclient)
-- -> ip, port actually bound, or nil and why not
function CMD.listen(addr, port, maxclient)
	if port == nil then
		local a = node_address[addr]
		if not a then
			return nil, format("%s is down", addr)
		end
		addr, port = parse_hostport(a)
	end
	maxclient = math.tointeger(maxclient) or 1024
	local ok, id, ip, bound = pcall(socket.listen, addr, port)
	if not ok then
		return nil, format("cannot listen on %s:%s: %s", addr, tostring(port), tostring(id))
	end
	skynet.error(format("Listen on %s %d", ip or addr, bound or port))
	local l = { maxclient = maxclient, count = 0 }
	listeners[id] = l
	socket.start(id, function(fd, peer)
		skynet.error(format("socket accept from %s", peer))
		if l.count >= l.maxclient then
			skynet.error(format("cluster: refuse %s: %d connections already (maxclient)", peer, l.count))
			socket.close_fd(fd)
			return
		end
		l.count = l.count + 1
		connections[fd] = { listen = id }
		skynet.fork(new_agent, fd, peer, id)
	end)
	return ip or addr, bound or port
end

function CMD.agentexit(fd)
	local _, source = skynet.context()
	agents[source] = nil
	local conn = connections[fd]
	if conn then
		connections[fd] = nil
		local l = listeners[conn.listen]
		if l then
			l.count = l.count - 1
		end
	end
end

----------------------------------------------------------------------------

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = CMD[cmd]
		if not f then
			error("clusterd: unknown command " .. tostring(cmd))
		end
		if session == 0 then
			f(...)
		else
			skynet.retpack(f(...))
		end
	end)
	CMD.reload(load_config())
end)
