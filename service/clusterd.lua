-- clusterd: the node's cluster registry (node map, names, listeners), one per
-- node, started by the first `require "skynet.cluster"`.
--
-- It owns
--   * the node map: node name -> "host:port" | false, from the file named by
--     the `cluster` config key and from cluster.reload; options (`__name`);
--   * one clustersender per remote node, created on first use;
--   * one clusterproxy per (node, name) asked for with cluster.proxy;
--   * the registry of names served as "@name" (cluster.register);
--   * the listening sockets of cluster.open, and the accepted connections:
--     a connection is held here, cheaply (a table and the bytes so far),
--     until its first complete frame arrives; then it gets a clusteragent,
--     which takes the socket over and reads it itself (no gate in between).
--
-- Silent connections (accepted, no complete frame yet) cannot pile up: one
-- that has not finished its first frame within HANDSHAKE_TIMEOUT
-- (cluster_handshake_timeout) is closed, and when HANDSHAKE_MAX
-- (cluster_handshake_max) are silent the oldest is closed for each new one.
-- They do not count against maxclient, which bounds connections with an
-- agent.  Closes are logged as one summary line per second at most.
--
-- Cluster secret (config `cluster_secret`, skynet.cluster.handshake): a
-- listener with a secret sends each accepted connection a challenge as soon
-- as it is started, and takes its first frame as the answer: a first frame
-- that cannot be one (judged from its first 3 bytes) or a wrong answer
-- closes the connection before any request is read, with one log line
-- naming the peer's address (at most REFUSE_LOG_MAX a REPORT_INTERVAL, the
-- rest summed up); a right one gets the listener's proof back, and the
-- connection its agent.  Until then the connection is silent (the handshake
-- timeout and cap above apply).  Without a secret none of this happens.
--
-- Commands ("lua"): reload(map), listen(addr, port, maxclient), sender(node)
-- (-> address, or nil and why),
-- senders(), proxy(node, name), register(name, addr), unregister(name),
-- queryname(name), names() (agents subscribe), handoff(fd) and agentexit(fd)
-- (from agents).
--
-- A node that is not in the map: by default a call to it fails at once
-- ("cluster node [x] is absent."); with `__nowaiting = false` in the map the
-- call waits for a reload that names it (upstream's default), logging
-- "Waiting for cluster node [x]".

local skynet = require "skynet"
local driver = require "skynet.socketdriver"
local core = require "skynet.cluster.core"
local handshake = require "skynet.cluster.handshake"

local format = string.format

local HANDSHAKE_TIMEOUT = tonumber(skynet.getenv "cluster_handshake_timeout") or 300 -- centiseconds
local HANDSHAKE_MAX = math.max(1, tonumber(skynet.getenv "cluster_handshake_max") or 1024) -- silent connections
-- the kernel's queue of connections not yet accepted: long enough that a
-- flood of connections does not keep it full and drop a real peer's SYN
-- (its connect would then wait a second per retry)
local LISTEN_BACKLOG = 128
local REPORT_INTERVAL = 100 -- centiseconds between summary lines about closed silent connections
local REFUSE_LOG_MAX = 20 -- refusals logged one by one per REPORT_INTERVAL; past that, counted
local SECRET = handshake.enabled

local node_address = {} -- node name -> "host:port" | false
local options = { nowaiting = true }
local waiting = {}      -- node name -> coroutines waiting for it to appear
local senders = {}      -- node name -> sender address
local creating = {}     -- node name / proxy key -> coroutines waiting for a launch
local proxies = {}      -- "node\0name" -> proxy address
local names = {}        -- registered name -> handle
local handle_name = {}  -- handle -> registered name
local agents = {}       -- agent address -> true (subscribed to name changes)
-- socket id -> { fd, peer, listen = listen id, state, agent = addr | nil,
--   parts = strings received | nil, n = #bytes, need = first frame size | nil,
--   deadline = skynet.now() by which the first frame must be complete,
--   ns = our challenge's nonce (with a cluster secret, until answered) }
-- state: "silent" (no complete frame yet), "starting" (its agent is being
-- launched; the socket is paused), "agent" (the agent owns the socket),
-- "gone" (closed while starting; the agent is told so), "closed" (dropped;
-- left only in the `silent` FIFO until the head passes it).
local connections = {}
local silent = {}       -- FIFO of connections accepted, oldest first; [silent_head, silent_tail]
local silent_head, silent_tail, nsilent = 1, 0, 0
local sweep_armed = false
local closed_timeout, closed_evicted, report_armed = 0, 0, false
local refused_logged, refused_quiet = 0, 0 -- refusals in this REPORT_INTERVAL: logged, only counted
local listeners = {}    -- listen socket id -> { maxclient, count (connections with an agent) }
local listening = {}    -- listen socket id -> coroutine waiting for it to start
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

-- One line per REPORT_INTERVAL at most about silent connections closed.
local function report()
	report_armed = false
	if closed_timeout + closed_evicted > 0 then
		skynet.error(format("cluster: closed %d connection(s) that sent no complete frame: %d after cluster_handshake_timeout (%.1f s), %d over cluster_handshake_max (%d)",
			closed_timeout + closed_evicted, closed_timeout, HANDSHAKE_TIMEOUT / 100, closed_evicted, HANDSHAKE_MAX))
	end
	if refused_quiet > 0 then
		skynet.error(format("cluster: refused %d more connection(s) for the cluster secret (not logged one by one)", refused_quiet))
	end
	closed_timeout, closed_evicted, refused_logged, refused_quiet = 0, 0, 0, 0
end

local function arm_report()
	if not report_armed then
		report_armed = true
		skynet.timeout(REPORT_INTERVAL, report)
	end
end

-- Closes a silent connection.
local function close_silent(conn, evicted)
	conn.state = "closed"
	connections[conn.fd] = nil
	nsilent = nsilent - 1
	driver.close(conn.fd)
	if evicted then
		closed_evicted = closed_evicted + 1
	else
		closed_timeout = closed_timeout + 1
	end
	arm_report()
end

-- Closes a silent connection that failed the cluster secret handshake
-- (verdict: the refusal frame to send first, or nil).
local function refuse(conn, why, verdict)
	conn.state = "closed"
	connections[conn.fd] = nil
	nsilent = nsilent - 1
	if verdict then
		driver.send(conn.fd, verdict) -- a graceful close sends it first
	end
	driver.close(conn.fd)
	if refused_logged < REFUSE_LOG_MAX then
		refused_logged = refused_logged + 1
		skynet.error(format("cluster: refuse %s: %s", conn.peer, why))
	else
		refused_quiet = refused_quiet + 1
	end
	arm_report()
end

-- The oldest connection still silent, or nil (drops the FIFO's dead head).
local function oldest_silent()
	while silent_head <= silent_tail do
		local conn = silent[silent_head]
		if conn.state == "silent" then
			return conn
		end
		silent[silent_head] = nil
		silent_head = silent_head + 1
	end
end

-- Closes the silent connections past their deadline; one timer at a time,
-- set for the oldest one's deadline.
local sweep
local function arm_sweep()
	if sweep_armed then
		return
	end
	local conn = oldest_silent()
	if conn then
		sweep_armed = true
		skynet.timeout(math.max(conn.deadline - skynet.now(), 1), sweep)
	end
end

function sweep()
	sweep_armed = false
	local now = skynet.now()
	while true do
		local conn = oldest_silent()
		if conn == nil or conn.deadline > now then
			break
		end
		close_silent(conn)
	end
	arm_sweep()
end

local function accept(lid, fd, peer)
	if nsilent >= HANDSHAKE_MAX then
		close_silent(oldest_silent(), true)
	end
	local conn = { fd = fd, peer = peer, listen = lid, state = "silent", parts = {}, n = 0,
		deadline = skynet.now() + HANDSHAKE_TIMEOUT, ns = SECRET or nil }
	connections[fd] = conn
	silent_tail = silent_tail + 1
	silent[silent_tail] = conn
	nsilent = nsilent + 1
	driver.start(fd)
	arm_sweep()
end

local authenticate

local function new_agent(conn)
	local ok, agent = pcall(skynet.newservice, "clusteragent", skynet.self(), conn.fd, conn.peer)
	if not ok then
		skynet.error(format("cluster: cannot start an agent for %s: %s", conn.peer, tostring(agent)))
		driver.close(conn.fd)
		if connections[conn.fd] == conn then
			connections[conn.fd] = nil
			local l = listeners[conn.listen]
			if l then l.count = l.count - 1 end
		end
		return
	end
	conn.agent = agent
	if conn.state == "gone" then
		skynet.send(agent, "lua", "handoff", false)
	end
end

-- The first frame is complete: the connection gets an agent.
local function spoke(conn)
	nsilent = nsilent - 1
	local l = listeners[conn.listen]
	if l == nil or l.count >= l.maxclient then
		skynet.error(format("cluster: refuse %s: %d connections already (maxclient)", conn.peer, l and l.count or 0))
		conn.state = "closed"
		connections[conn.fd] = nil
		driver.close(conn.fd)
		return
	end
	l.count = l.count + 1
	conn.state = "starting"
	driver.pause(conn.fd) -- the agent resumes it; meanwhile little piles up here
	skynet.error(format("socket accept from %s", conn.peer))
	skynet.fork(new_agent, conn)
end

-- With a cluster secret: the connection's first frame must be the answer
-- to our challenge.  Refuses it as soon as its first bytes show it is not,
-- or when the whole answer is wrong; a right answer gets our proof and the
-- connection its agent (what came after the answer is handed over).
function authenticate(conn)
	if conn.ns == true then -- cannot be: the socket's start comes before its bytes
		refuse(conn, "it spoke before the cluster_secret challenge was sent")
		return
	end
	if conn.n < 3 then
		return
	end
	local s = table.concat(conn.parts)
	conn.parts = { s }
	local why = handshake.check_head(s)
	if why then
		refuse(conn, why)
		return
	end
	local need = 2 + (s:byte(1) << 8 | s:byte(2))
	if #s < need then
		return
	end
	local nc, bad = handshake.check_answer(conn.ns, s:sub(3, need))
	if not nc then
		refuse(conn, bad, handshake.refuse())
		return
	end
	driver.send(conn.fd, handshake.accept(conn.ns, nc))
	conn.ns = nil
	conn.parts = { s:sub(need + 1) }
	conn.n = #conn.parts[1]
	spoke(conn)
end

local function data(fd, size, msg)
	local conn = connections[fd]
	if conn == nil or (conn.state ~= "silent" and conn.state ~= "starting") then
		driver.drop(msg, size)
		return
	end
	local parts = conn.parts
	parts[#parts + 1] = skynet.tostring(msg, size)
	driver.drop(msg, size)
	conn.n = conn.n + size
	if conn.state ~= "silent" then
		return
	end
	if conn.ns then
		authenticate(conn)
		return
	end
	if conn.need == nil and conn.n >= 2 then
		local s = table.concat(parts)
		conn.parts = { s }
		conn.need = 2 + (s:byte(1) << 8 | s:byte(2))
	end
	if conn.need and conn.n >= conn.need then
		spoke(conn)
	end
end

-- The peer closed (or broke) a connection we still hold.
local function gone(fd)
	local conn = connections[fd]
	if conn == nil then
		return
	end
	if conn.state == "silent" then
		conn.state = "closed"
		connections[fd] = nil
		nsilent = nsilent - 1
		driver.close(fd)
	elseif conn.state == "starting" then
		conn.state = "gone"
		conn.parts = nil
		if conn.agent then
			skynet.send(conn.agent, "lua", "handoff", false)
		end
	end
end

local socket_event = {}

socket_event[1] = function(id, size, msg) data(id, size, msg) end -- DATA

socket_event[2] = function(id, port, addr) -- CONNECT: a listen socket started, or an accepted one
	local co = listening[id]
	if co then
		listening[id] = { ip = addr, port = port }
		skynet.wakeup(co)
		return
	end
	local conn = connections[id]
	if conn and conn.ns == true then
		-- started: it can be written to now
		local ns, frame = handshake.challenge()
		conn.ns = ns
		driver.send(id, frame)
	end
end

socket_event[3] = function(id) -- CLOSE
	local co = listening[id]
	if co then
		listening[id] = { err = "closed" }
		skynet.wakeup(co)
		return
	end
	gone(id)
end

socket_event[4] = function(lid, fd, peer) -- ACCEPT
	if listeners[lid] then
		accept(lid, fd, peer)
	else
		driver.close(fd)
	end
end

socket_event[5] = function(id, _, err) -- ERROR
	local co = listening[id]
	if co then
		listening[id] = { err = err }
		skynet.wakeup(co)
	elseif listeners[id] then
		skynet.error(format("cluster: accept error on listen socket %d: %s", id, tostring(err)))
	else
		gone(id)
	end
end

skynet.register_protocol {
	name = "socket",
	id = skynet.PTYPE_SOCKET,
	unpack = driver.unpack,
	dispatch = function(_, _, t, id, ud, d)
		local f = socket_event[t]
		if f then
			f(id, ud, d)
		elseif t == 6 then
			driver.drop(d, ud)
		end
	end,
}

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
	local ok, id = pcall(driver.listen, addr, port, LISTEN_BACKLOG)
	if not ok then
		return nil, format("cannot listen on %s:%s: %s", addr, tostring(port), tostring(id))
	end
	listening[id] = coroutine.running()
	driver.start(id)
	skynet.wait()
	local r = listening[id]
	listening[id] = nil
	if r.err then
		driver.close(id)
		return nil, format("cannot listen on %s:%s: %s", addr, tostring(port), tostring(r.err))
	end
	skynet.error(format("Listen on %s %d", r.ip or addr, r.port or port))
	listeners[id] = { maxclient = maxclient, count = 0 }
	return r.ip or addr, r.port or port
end

-- from an agent that took its socket over: what we received before
function CMD.handoff(fd)
	local _, source = skynet.context()
	local conn = connections[fd]
	if conn and conn.state == "starting" and (conn.agent == nil or conn.agent == source) then
		conn.agent = source
		conn.state = "agent"
		local bytes = table.concat(conn.parts)
		conn.parts = nil
		skynet.send(source, "lua", "handoff", bytes)
	else
		skynet.send(source, "lua", "handoff", false)
	end
end

function CMD.agentexit(fd)
	local _, source = skynet.context()
	agents[source] = nil
	local conn = connections[fd]
	if conn and conn.agent == source then
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
