-- clustersender: owns the TCP connection from this node to one remote node
-- (requests out, responses in).  Launched by clusterd as
--   clustersender <node> <localnodename> <host:port>
--
-- It is event driven and uses no coroutine on its hot path: the service's
-- message callback is replaced (see `dispatch` at the end) so that
--   * a request from a caller (private protocol PTYPE_CLUSTER_REQ, built by
--     skynet.cluster's core.packfast) gets the next session number and is
--     appended to a write batch; the batch goes to the socket when the
--     mailbox is empty (or past BATCH_BYTES), so a burst of cluster.send is
--     one write(), not one per message;
--   * socket events are handled inline: bytes go through a framer, each
--     response frame answers the waiting caller directly (PTYPE_RESPONSE
--     with the payload bytes, or PTYPE_ERROR with a text saying why);
--   * PTYPE_TRACE from a caller tags its next request (a trace frame).
-- Everything else ("lua" commands from clusterd, timers) goes through the
-- ordinary skynet dispatch.
--
-- Connection states: "down" (no socket; the next request connects),
-- "connecting" (requests wait in the batch), "connected", "off" (the node
-- is configured false: every request fails at once).  A connect is one
-- attempt, bounded by CONNECT_TIMEOUT; if it fails, every request waiting
-- for it fails, and the next request tries again.  When the connection
-- breaks, every call in flight fails at once.  Nothing is retried.
--
-- A listener that breaks the protocol is a broken connection too, with
-- every waiting call failed as "protocol error: <what>" and the socket
-- closed (the next request reconnects):
--   * a frame that can never be a response (short body, unknown type, a
--     bad begin frame, a part without a begin) -- at once, as soon as its
--     first 7 bytes are in: garbage does not make us wait for the 64 KiB
--     its first two bytes may claim;
--   * half a frame, or a multi-part response begun, and then no byte for
--     READ_TIMEOUT (cluster_read_timeout).
--
-- A listener that sends nothing at all (frozen, its machine gone without a
-- reset, or just never answering) is caught by the heartbeat: after
-- HEARTBEAT (cluster_heartbeat, seconds, default 10, 0 = off) without a
-- byte from it, the sender writes a probe, a name query for address 0
-- (wire-cluster.md §5.2; every listener, upstream's too, answers it, if
-- only with "name not found"), and if HEARTBEAT more passes without a byte,
-- the node is declared not responding: every waiting call fails, the
-- connection is closed and the next request reconnects.
--
-- Cluster secret (config `cluster_secret`, skynet.cluster.handshake): with
-- a secret, a connection is "auth" between the TCP connect and the
-- listener's proof: we wait for its challenge, answer it, and check its
-- proof; requests wait in the batch meanwhile, as while connecting, and
-- CONNECT_TIMEOUT covers the whole.  A listener that refuses our answer,
-- sends no challenge, or cannot prove the secret fails the waiting calls
-- saying so.  Without a secret, a challenge (a listener that has one) fails
-- them with "refused the connection: it requires a cluster secret".  Once
-- connected, nothing of this is on the request path.

local skynet = require "skynet"
local c = require "skynet.core"
local driver = require "skynet.socketdriver"
local core = require "skynet.cluster.core"
local metrics = require "skynet.metrics"
local handshake = require "skynet.cluster.handshake"

local node, localnodename, address = ...
local PTYPE_CLUSTER_REQ = 249
local PTYPE_RESPONSE, PTYPE_SOCKET, PTYPE_ERROR, PTYPE_TRACE =
	skynet.PTYPE_RESPONSE, skynet.PTYPE_SOCKET, skynet.PTYPE_ERROR, skynet.PTYPE_TRACE
local BATCH_BYTES = 64 * 1024
local CONNECT_TIMEOUT = tonumber(skynet.getenv "cluster_connect_timeout") or 500 -- centiseconds
local MAX_RESPONSE = tonumber(skynet.getenv "cluster_max_message") or 1024 * 1024 * 1024
local READ_TIMEOUT = tonumber(skynet.getenv "cluster_read_timeout") or 1000 -- centiseconds
local RESPONSE_HEAD = 7 -- length field, session, type: enough to judge a frame
local HEARTBEAT = math.floor((tonumber(skynet.getenv "cluster_heartbeat") or 10) * 100) -- centiseconds, 0: off
local SECRET = handshake.enabled

local csend, ctostring, intcommand = c.send, c.tostring, c.intcommand
local unpackresponse, checkresponse, concat = core.unpackresponse, core.checkresponse, core.concat
local format = string.format

local host, port           -- where the node listens
local state = "down"
local fd                   -- socket id while connecting/connected
local attempt = 0          -- connect attempts, to match timeouts to attempts
local next_session = 1
local waiting = {}         -- cluster session -> caller handle << 32 | caller session
local nwaiting = 0
local partial = {}         -- cluster session -> multi-part response being joined
local trace = {}           -- caller handle -> trace tag for its next request
local trace_count = 0
local wb = core.wbuf()     -- frames not yet written
local framer = core.framer()
local last_read = 0        -- skynet.now() of the last bytes received
local read_timer = false   -- a read-timeout check is scheduled
local probe = false        -- cluster session of the heartbeat probe in flight
local probe_frame, probe_sz = core.packfast(0, skynet.packstring "") -- kept for the service's life
local sent_at = {}         -- cluster session -> skynet.hpc() when the request left
local auth_ns, auth_nc     -- the handshake's nonces (state "auth"): the listener's once challenged, ours once answered

-- Published on the node's metrics endpoint (skynet.metrics): the peer's
-- state as a state set (1 on the current state), the calls waiting, and
-- call latency as a summary (count and sum of seconds).
local STATES = { "down", "connecting", "connected", "off" }
local M = { state = {} }
do
	local help_state = "State of the connection to a cluster peer (1 on the current state)."
	for _, st in ipairs(STATES) do
		M.state[st] = metrics.series("skynet_cluster_peer_state", "gauge", help_state, { node = node, state = st })
	end
	M.waiting = metrics.series("skynet_cluster_calls_waiting", "gauge",
		"Calls to a cluster peer waiting for their answer.", { node = node })
	M.latency = metrics.series("skynet_cluster_call_duration_seconds", "summary",
		"Time from sending a call to a cluster peer to its answer.", { node = node })
end
local mset, mobserve, hpc = metrics.set, metrics.observe, skynet.hpc

local shown_state -- the state last published

-- Called after every message (the state changes in many places).
local function publish_state()
	shown_state = state
	local shown = state == "auth" and "connecting" or state
	for st, id in pairs(M.state) do
		if id then mset(id, st == shown and 1 or 0) end
	end
end

local function parse_address(addr)
	if addr == nil or addr == "false" then
		return nil
	end
	local h, p = addr:match "^%[(.-)%]:(%d+)$"
	if not h then
		h, p = addr:match "^(.*):(%d+)$"
	end
	if not h then
		error(format("clustersender: invalid address %q for node [%s] (want host:port)", addr, node))
	end
	return h, tonumber(p)
end

local function where()
	return format("cluster node [%s] %s:%s", node, tostring(host), tostring(port))
end

-- Fails every call in flight and forgets partial responses.
local function fail_all(why, text)
	text = text or where() .. ": " .. why
	for cs, w in pairs(waiting) do
		csend(w >> 32, PTYPE_ERROR, w & 0xffffffff, text)
	end
	waiting = {}
	nwaiting = 0
	sent_at = {}
	partial = {}
	if M.waiting then mset(M.waiting, 0) end
end

local function flush()
	local p, n = wb:take()
	if p then
		driver.send(fd, p, n)
	end
end

-- The socket is gone (or never came up): forget it and fail the calls
-- (with where() .. ": " .. why, or the whole `text` when given).
local function disconnect(why, text)
	local old = fd
	fd = nil
	probe = false
	auth_ns, auth_nc = nil, nil
	if state ~= "off" then
		state = "down"
	end
	framer:clear()
	wb:clear()
	if old then
		driver.close(old)
	end
	fail_all(why, text)
end

-- Starts one connect attempt.  Returns true, or nil and why it could not
-- even start (then nothing changed).
local function connect()
	attempt = attempt + 1
	local ok, id = pcall(driver.connect, host, port)
	if not ok or not id then
		return nil, "connect failed: " .. (ok and "reach skynet socket number limit" or tostring(id))
	end
	fd = id
	state = "connecting"
	local this = attempt
	skynet.timeout(CONNECT_TIMEOUT, function()
		if attempt ~= this then
			return
		elseif state == "connecting" then
			disconnect(format("connect timeout after %.1f s", CONNECT_TIMEOUT / 100))
		elseif state == "auth" and not auth_ns then
			disconnect(format("no cluster_secret challenge within %.1f s (cluster_secret is set here; is it set on that node?)",
				CONNECT_TIMEOUT / 100))
		elseif state == "auth" then
			disconnect(format("no answer to our cluster_secret proof within %.1f s", CONNECT_TIMEOUT / 100))
		end
	end)
	return true
end

----------------------------------------------------------------------------
-- Requests from callers.

local function new_session()
	local s = next_session
	next_session = s >= 0x7fffffff and 1 or s + 1
	return s
end

-- Upstream's trace rewrite: "(<nodeid>-<node>-<counter>)<tag>".
local function trace_frame(tag)
	if tag:byte(1) ~= 40 then -- '('
		trace_count = trace_count + 1
		tag = format("(%s-%s-%d)%s", localnodename, node, trace_count, tag)
	end
	return core.packtrace(tag)
end

-- msg/sz: an internal request (core.packfast); session 0 = push.
local function request(msg, sz, session, source)
	if state == "off" then
		if session ~= 0 then
			csend(source, PTYPE_ERROR, session, where() .. " is down (configured false)")
		end
		return
	elseif state == "down" then
		local ok, why = connect()
		if not ok then
			if session ~= 0 then
				csend(source, PTYPE_ERROR, session, where() .. ": " .. why)
			end
			return
		end
	end
	local tag = trace[source]
	if tag then
		trace[source] = nil
		wb:append(trace_frame(tag))
	end
	local push = session == 0
	local cs = 0
	if not push then
		cs = new_session()
		waiting[cs] = source << 32 | session
		nwaiting = nwaiting + 1
		sent_at[cs] = hpc()
		if M.waiting then mset(M.waiting, nwaiting) end
	end
	if not wb:request(msg, sz, cs, push) then
		-- multi-part: earlier frames first, then the parts at low priority
		if push then
			cs = new_session()
		end
		local start, parts = core.splitrequest(msg, sz, cs, push)
		if state == "connected" then
			flush()
			driver.lsend(fd, start)
			for i = 1, #parts do
				driver.lsend(fd, parts[i])
			end
		else
			wb:append(start)
			for i = 1, #parts do
				wb:append(parts[i])
			end
		end
	end
end

----------------------------------------------------------------------------
-- Responses.

-- A call is answered (or failed by its peer): latency and waiting count.
local function answered(cs)
	local t = sent_at[cs]
	sent_at[cs] = nil
	if t and M.latency then mobserve(M.latency, (hpc() - t) / 1e9) end
	if M.waiting then mset(M.waiting, nwaiting) end
end

local function answer_ok(cs, data, sz)
	local w = waiting[cs]
	if w == nil then
		if cs == probe then -- the heartbeat's probe: any answer will do
			probe = false
			if sz then skynet.trash(data, sz) end
			return
		end
		skynet.error(format("cluster: unknown session %d from node [%s]", cs, node))
		if sz then skynet.trash(data, sz) end
		return
	end
	waiting[cs] = nil
	nwaiting = nwaiting - 1
	answered(cs)
	csend(w >> 32, PTYPE_RESPONSE, w & 0xffffffff, data, sz)
end

-- The listener refused us (for the cluster secret): fail the waiting calls
-- with "<where> refused the connection: <why>", one log line.
local function refused(why)
	local text = format("%s refused the connection: %s", where(), why)
	skynet.error(text)
	disconnect(nil, text)
end

local function answer_error(cs, text)
	local w = waiting[cs]
	if w == nil then
		if cs == probe then
			probe = false
			return
		end
		if cs == 0 and handshake.parse_challenge(text) then
			refused("it requires a cluster secret, and cluster_secret is not set on this node")
			return
		end
		skynet.error(format("cluster: unknown session %d from node [%s]: %s", cs, node, text))
		return
	end
	waiting[cs] = nil
	nwaiting = nwaiting - 1
	answered(cs)
	csend(w >> 32, PTYPE_ERROR, w & 0xffffffff, where() .. ": " .. text)
end

local function response(body)
	local cs, t, data = unpackresponse(body)
	if t == 1 then
		answer_ok(cs, data)
	elseif t == 0 then
		answer_error(cs, data)
	elseif t == 2 then
		if data > MAX_RESPONSE then
			partial[cs] = { discard = format("response of %d bytes exceeds the limit of %d", data, MAX_RESPONSE) }
		else
			partial[cs] = { total = data, n = 0 }
		end
	else -- 3 part, 4 last part
		local p = partial[cs]
		if p == nil then
			error(format("response part for session %d without a begin frame", cs))
		end
		if not p.discard then
			local n = p.n + #data
			if n > p.total then
				p.discard = format("response parts exceed the declared %d bytes", p.total)
				for i = #p, 1, -1 do p[i] = nil end
			else
				p[#p + 1] = data
				p.n = n
			end
		end
		if t == 4 then
			partial[cs] = nil
			if p.discard then
				answer_error(cs, p.discard)
			elseif p.n ~= p.total then
				answer_error(cs, format("response of %d bytes, %d declared", p.n, p.total))
			else
				answer_ok(cs, concat(p))
			end
		end
	end
end

----------------------------------------------------------------------------
-- Socket events.

local socket_event = {}

-- Something of a response is unfinished: half a frame, or a multi-part
-- response between its begin and its last part.
local function unfinished()
	return framer:size() > 0 or next(partial) ~= nil
end

local check_alive

-- The TCP connection is up and, with a secret, the listener proved it.
local function connected()
	state = "connected"
	last_read = skynet.now()
	flush()
	if HEARTBEAT > 0 then
		local this = attempt
		skynet.timeout(HEARTBEAT, function() check_alive(this) end)
	end
end

-- A frame while state is "auth": the challenge, then the verdict.
local function auth_frame(body)
	local cs, t, data = unpackresponse(body)
	if cs ~= 0 then
		error(format("response for session %d during the cluster_secret handshake", cs))
	end
	if auth_nc == nil then
		local ns = t == 0 and handshake.parse_challenge(data)
		if not ns then
			refused(format("it sent %s instead of a cluster_secret challenge (is cluster_secret set on that node?)",
				t == 0 and format("the error %q", data) or format("a response of type %d", t)))
			return
		end
		auth_ns = ns
		local nc, frame = handshake.answer(ns)
		auth_nc = nc
		driver.send(fd, frame)
		return
	end
	local ok, why = handshake.check_verdict(auth_ns, auth_nc, t, data)
	auth_ns, auth_nc = nil, nil
	if not ok then
		refused(why)
		return
	end
	connected()
end

local function protocol_error(why)
	why = "protocol error: " .. tostring(why):gsub("^cluster: ", "")
	skynet.error(format("%s: closing the connection: %s", where(), why))
	disconnect(why)
end

-- Checks, READ_TIMEOUT after the last bytes, that an unfinished response
-- has moved on; one timer at a time, re-armed while something is unfinished.
local function check_read()
	read_timer = false
	if state ~= "connected" or not unfinished() then
		return
	end
	local idle = skynet.now() - last_read
	if idle < READ_TIMEOUT then
		read_timer = true
		skynet.timeout(READ_TIMEOUT - idle, check_read)
		return
	end
	local n = framer:size()
	if n > 0 then
		local head = framer:peek(2)
		local want = #head == 2 and (head:byte(1) << 8 | head:byte(2)) + 2 or "?"
		protocol_error(format("half a frame (%d of %s bytes), then nothing for %.1f s", n, want, idle / 100))
	else
		local cs = next(partial)
		protocol_error(format("multi-part response for session %d unfinished, nothing received for %.1f s",
			cs, idle / 100))
	end
end

-- The heartbeat, every HEARTBEAT while connection `this` is up: a probe
-- after HEARTBEAT without a byte, and the node declared not responding
-- when HEARTBEAT more passes without one.
function check_alive(this)
	if state ~= "connected" or attempt ~= this then
		return
	end
	local idle = skynet.now() - last_read
	if idle >= HEARTBEAT then
		if probe then
			local why = format("no byte for %.1f s, probe unanswered", idle / 100)
			skynet.error(format("%s is not responding (%s): closing the connection", where(), why))
			disconnect(why, format("%s is not responding (%s)", where(), why))
			return
		end
		probe = new_session()
		wb:request(probe_frame, probe_sz, probe, false)
		flush()
		idle = 0
	end
	skynet.timeout(HEARTBEAT - idle, function() check_alive(this) end)
end

socket_event[1] = function(id, size, data) -- DATA
	if id ~= fd then
		driver.drop(data, size)
		return
	end
	framer:push(data, size)
	last_read = skynet.now()
	local pop = framer.pop
	while true do
		local body = pop(framer)
		if body == nil then break end
		local ok, err = pcall(state == "auth" and auth_frame or response, body)
		if not ok then
			protocol_error(err)
			return
		end
	end
	if unfinished() then
		local ok, err = pcall(checkresponse, framer:peek(RESPONSE_HEAD))
		if not ok then
			protocol_error(err)
		elseif not read_timer then
			read_timer = true
			skynet.timeout(READ_TIMEOUT, check_read)
		end
	end
end

socket_event[2] = function(id) -- CONNECT
	if id ~= fd or state ~= "connecting" then
		return
	end
	driver.nodelay(id)
	if SECRET then
		state = "auth" -- the listener speaks first: its challenge
		last_read = skynet.now()
		return
	end
	connected()
end

socket_event[3] = function(id) -- CLOSE
	if id ~= fd then
		return
	end
	if state == "connecting" then
		disconnect("connect failed")
	elseif state == "auth" then
		local why = auth_ns and "closed the connection after our answer to its cluster_secret challenge"
			or "closed the connection without a cluster_secret challenge (cluster_secret is set here; is it set on that node?)"
		skynet.error(format("%s %s", where(), why))
		disconnect(nil, where() .. " " .. why)
	else
		disconnect("connection closed by the peer")
	end
end

socket_event[5] = function(id, _, err) -- ERROR
	if id ~= fd then
		return
	end
	if state == "connecting" then
		disconnect("connect failed: " .. tostring(err))
	else
		disconnect("connection broken: " .. tostring(err))
	end
end

socket_event[7] = function(id, size) -- WARNING
	if id == fd and size > 0 then
		skynet.error(format("%s: %d K bytes waiting to be sent", where(), size))
	end
end

local dunpack = driver.unpack
local function socket_message(msg, sz)
	local t, id, ud, data = dunpack(msg, sz)
	local f = socket_event[t]
	if f then
		f(id, ud, data)
	elseif t == 1 or t == 6 then
		driver.drop(data, ud)
	end
end

----------------------------------------------------------------------------
-- "lua" commands (from clusterd; req/push for compatibility).

local CMD = {}

-- changenode("host:port") / changenode(false)
function CMD.changenode(addr)
	if not addr then
		if state ~= "off" then
			skynet.error(format("Close cluster sender %s %s", tostring(host), tostring(port)))
			state = "off"
			disconnect("node is down (configured false)")
		end
		return
	end
	local h, p = parse_address(addr)
	if h == host and p == port and state ~= "off" then
		return
	end
	if fd then
		disconnect(format("node address changed to %s", addr))
	end
	host, port = h, p
	state = "down"
end

function CMD.req(addr, msg, sz)
	local session, source = skynet.context()
	skynet.ignoreret()
	local f, n = core.packfast(addr, msg, sz)
	local ok, err = pcall(request, f, n, session, source)
	skynet.trash(f, n)
	assert(ok, err)
end

function CMD.push(addr, msg, sz)
	skynet.ignoreret()
	local f, n = core.packfast(addr, msg, sz)
	local ok, err = pcall(request, f, n, 0, 0)
	skynet.trash(f, n)
	assert(ok, err)
	if state == "connected" then flush() end
end

function CMD.stat()
	return { state = state, host = host, port = port, waiting = nwaiting, session = next_session }
end

----------------------------------------------------------------------------

local dispatch_message = skynet.dispatch_message

local function dispatch(ptype, msg, sz, session, source)
	if ptype == PTYPE_CLUSTER_REQ then
		local ok, err = pcall(request, msg, sz, session, source)
		if not ok then
			skynet.error(format("%s: bad request from %s: %s", where(), skynet.address(source), tostring(err)))
			if session ~= 0 then
				csend(source, PTYPE_ERROR, session, where() .. ": " .. tostring(err))
			end
		end
	elseif ptype == PTYPE_SOCKET then
		socket_message(msg, sz)
	elseif ptype == PTYPE_TRACE then -- tags the next request from source
		trace[source] = ctostring(msg, sz)
	else
		dispatch_message(ptype, msg, sz, session, source)
	end
	if state == "connected" then
		local n = wb:size()
		if n > 0 and (n >= BATCH_BYTES or intcommand("STAT", "mqlen") == 0) then
			flush()
		end
	end
	if state ~= shown_state then
		publish_state()
	end
end

skynet.start(function()
	host, port = parse_address(address)
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = CMD[cmd]
		if not f then
			error("clustersender: unknown command " .. tostring(cmd))
		end
		if cmd == "req" or cmd == "push" then
			f(...) -- answered later, by the response
		else
			skynet.retpack(f(...))
		end
	end)
	if not host then
		state = "off"
	end
	publish_state()
end)
c.callback(dispatch)
