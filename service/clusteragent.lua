-- clusteragent: serves one accepted cluster connection (requests in,
-- responses out).  Launched by clusterd as
--   clusteragent <clusterd> <socket id> <peer ip:port>
--
-- Like clustersender it runs its hot path without coroutines: the message
-- callback is replaced (see `dispatch` at the end) so that
--   * socket DATA goes through a framer; each request frame is decoded and
--     sent on at once as a "lua" message to its target, with a session of
--     our own remembered against the cluster session (`pending`);
--   * the target's PTYPE_RESPONSE / PTYPE_ERROR for that session becomes a
--     response frame, appended to a write batch that goes to the socket
--     when the mailbox is empty (or past BATCH_BYTES);
--   * multi-part requests are joined per session, responses larger than
--     0x8000 bytes are split, at low write priority.
-- Requests are thus handed to their targets in arrival order; responses go
-- back in whatever order the targets answer.
--
-- "@name" addresses are resolved from a copy of clusterd's registry: the
-- agent subscribes at start ("names") and clusterd sends every later
-- change ("name", name, handle|nil) before cluster.register returns, so
-- the copy is never behind a request that could know the new name.
--
-- A peer that sends anything malformed (unknown tag, short body, zero-length
-- frame, a part without a start, parts beyond the declared size, a declared
-- size above cluster_max_message, too many unfinished multi-part messages)
-- is disconnected with one log line; the node goes on serving the others.
--
-- Bytes held in unfinished multi-part requests are capped per connection
-- (MAX_UNFINISHED, cluster_max_unfinished) and per node (UNFINISHED_NODE,
-- cluster_max_unfinished_node, counted across agents by core.unfinished):
-- the part that would pass either cap disconnects its peer.  A multi-part
-- request that gets no part for UNFINISHED_TIMEOUT is dropped (one log
-- line; a request gets an error answer) and its bytes are given back.
--
-- Taking over the socket: clusterd accepts the connection and holds it
-- until a first complete frame arrives (idle connections cost no agent),
-- then starts us paused.  We take the socket over (driver.start: the socket
-- thread sends us "transfer" and from then on our bytes come to us), then
-- ask clusterd for what it received before ("handoff"); clusterd handles
-- that request after every byte it was sent, so the handed-over bytes
-- followed by ours are the stream in order.  Until the handoff arrives our
-- own socket events wait in `early`.

local skynet = require "skynet"
local c = require "skynet.core"
local driver = require "skynet.socketdriver"
local core = require "skynet.cluster.core"

local clusterd, fd, peer = ...
clusterd = tonumber(clusterd)
fd = tonumber(fd)

local BATCH_BYTES = 64 * 1024
local MAX_MESSAGE = tonumber(skynet.getenv "cluster_max_message") or 1024 * 1024 * 1024
local MAX_PARTIAL = 256 -- unfinished multi-part messages per connection
local MAX_UNFINISHED = tonumber(skynet.getenv "cluster_max_unfinished") or MAX_MESSAGE -- bytes, per connection
local UNFINISHED_NODE = tonumber(skynet.getenv "cluster_max_unfinished_node") or 1024 * 1024 * 1024 -- bytes, per node
local UNFINISHED_TIMEOUT = tonumber(skynet.getenv "cluster_unfinished_timeout") or 1000 -- centiseconds
local HANDOFF_TIMEOUT = 1000 -- centiseconds to take the socket over from clusterd

local csend, ctostring, intcommand = c.send, c.tostring, c.intcommand
local PTYPE_RESPONSE, PTYPE_SOCKET, PTYPE_ERROR, PTYPE_LUA, PTYPE_TRACE =
	skynet.PTYPE_RESPONSE, skynet.PTYPE_SOCKET, skynet.PTYPE_ERROR, skynet.PTYPE_LUA, skynet.PTYPE_TRACE
local unpackrequest, packresponse, concat, unfinished = core.unpackrequest, core.packresponse, core.concat,
	core.unfinished
local format = string.format

local standalone = (tonumber(skynet.getenv "harbor") or 0) == 0
local names = {}          -- registered name -> handle (clusterd's registry)
local pending = {}        -- our session -> cluster session of the request
local partial = {}        -- cluster session -> multi-part request being joined
local npartial = 0
local partial_bytes = 0   -- bytes received into `partial` (also counted in core.unfinished)
local stale_timer = false -- a check for stale multi-part requests is scheduled
local trace_tag           -- trace tag for the next request
local wb = core.wbuf()
local framer = core.framer()
local closed = false
local early = {}          -- socket DATA (strings) / CLOSE / ERROR (tables) before the handoff; nil after

local function flush()
	local p, n = wb:take()
	if p then
		driver.send(fd, p, n)
	end
end

local function respond_error(cs, text)
	if cs ~= 0 then
		wb:append(packresponse(cs, false, text))
	end
end

local function respond_ok(cs, msg, sz)
	local frame, parts = packresponse(cs, true, msg, sz)
	if parts == nil then
		wb:append(frame)
		return
	end
	-- earlier frames first, then the split response at low priority
	flush()
	driver.lsend(fd, frame)
	for i = 1, #parts do
		driver.lsend(fd, parts[i])
	end
end

-- Closes the connection (once) and retires the agent.
local function shutdown()
	if closed then
		return
	end
	closed = true
	flush()
	driver.close(fd)
	framer:clear()
	partial = {}
	npartial = 0
	unfinished(-partial_bytes)
	partial_bytes = 0
	skynet.send(clusterd, "lua", "agentexit", fd)
	skynet.timeout(0, function() skynet.exit() end)
end

----------------------------------------------------------------------------
-- Requests.

-- Where a request addressed to `addr` goes: a handle or a string skynet
-- resolves, or nil and why not.
local function resolve(addr)
	if type(addr) == "number" then
		return addr
	end
	local first = addr:byte(1)
	if first == 64 then -- '@'
		local h = names[addr:sub(2)]
		if h then
			return h
		end
		return nil, "Invalid name"
	elseif first == 46 or first == 58 or not standalone then -- '.', ':' or a harbor global name
		return addr
	end
	return nil, format("Invalid name %s (want @name, .name, :hex or a handle)", addr)
end

-- Runs one complete request or push.  payload: a string, or ptr + sz
-- (ownership passes on).
local function execute(addr, cs, push, payload, sz)
	if addr == 0 then -- name query: payload is skynet.pack(name)
		local ok, name = pcall(skynet.unpack, payload, sz)
		if sz then skynet.trash(payload, sz) end
		if not push then
			local h = ok and type(name) == "string" and names[name]
			if h then
				respond_ok(cs, skynet.packstring(h))
			else
				respond_error(cs, "name not found")
			end
		end
		return
	end
	local target, why = resolve(addr)
	if target == nil then
		if sz then skynet.trash(payload, sz) end
		if push then
			skynet.error(format("cluster: push from %s to %s dropped: %s", peer, addr, why))
		else
			respond_error(cs, why)
		end
		return
	end
	if trace_tag then
		csend(target, PTYPE_TRACE, 0, trace_tag)
		trace_tag = nil
	end
	if push then
		csend(target, PTYPE_LUA, 0, payload, sz)
		return
	end
	local session = csend(target, PTYPE_LUA, nil, payload, sz)
	if session then
		pending[session] = cs
	elseif session == false then
		respond_error(cs, "message too large")
	else
		respond_error(cs, "call to invalid address " .. skynet.address(addr))
	end
end

-- Forgets multi-part request `cs` and gives its bytes back.
local function drop_partial(cs, p)
	partial[cs] = nil
	npartial = npartial - 1
	partial_bytes = partial_bytes - p.n
	unfinished(-p.n)
end

-- Drops the multi-part requests that got no part for UNFINISHED_TIMEOUT;
-- one timer at a time, re-armed while any is unfinished.
local function drop_stale()
	stale_timer = false
	if closed or npartial == 0 then
		return
	end
	local now = skynet.now()
	local dropped, bytes, first = 0, 0, nil
	local next_check = UNFINISHED_TIMEOUT
	for cs, p in pairs(partial) do
		local idle = now - p.last
		if idle >= UNFINISHED_TIMEOUT then
			dropped, bytes, first = dropped + 1, bytes + p.n, first or cs
			drop_partial(cs, p)
			if not p.push then
				respond_error(cs, format("multi-part request unfinished: no part for %.1f s", idle / 100))
			end
		elseif UNFINISHED_TIMEOUT - idle < next_check then
			next_check = UNFINISHED_TIMEOUT - idle
		end
	end
	if dropped > 0 then
		skynet.error(format("cluster: %s (socket %d): dropped %d unfinished multi-part message(s) (%d bytes, session %d%s): no part for %.1f s (cluster_unfinished_timeout)",
			peer, fd, dropped, bytes, first, dropped > 1 and ", ..." or "", UNFINISHED_TIMEOUT / 100))
	end
	if npartial > 0 then
		stale_timer = true
		skynet.timeout(next_check, drop_stale)
	end
end

local function request(body)
	local tag, a, b, d = unpackrequest(body)
	if tag == 0x00 or tag == 0x80 then
		execute(a, b, b == 0, d)
	elseif tag == 0x02 or tag == 0x03 then
		local p = partial[a]
		if p == nil then
			error(format("part for session %d without a start frame", a))
		end
		local len = #b
		local n = p.n + len
		if n > p.total then
			error(format("parts of session %d exceed the declared %d bytes", a, p.total))
		end
		if partial_bytes + len > MAX_UNFINISHED then
			error(format("unfinished multi-part messages pass cluster_max_unfinished (%d bytes on this connection)",
				MAX_UNFINISHED))
		end
		local ok, total = unfinished(len, UNFINISHED_NODE)
		if not ok then
			error(format("unfinished multi-part messages pass cluster_max_unfinished_node (%d bytes on this node, %d held)",
				UNFINISHED_NODE, total))
		end
		partial_bytes = partial_bytes + len
		p[#p + 1] = b
		p.n = n
		p.last = skynet.now()
		if tag == 0x03 then
			drop_partial(a, p)
			if n ~= p.total then
				if not p.push then
					respond_error(a, "Invalid large req")
				end
				return
			end
			execute(p.addr, p.push and 0 or a, p.push, concat(p))
		end
	elseif tag == 0x04 then
		trace_tag = a
	else -- multi-part start: 0x01 0x41 0x81 0xC1
		if partial[b] then
			error(format("second start frame for session %d", b))
		end
		if d > MAX_MESSAGE then
			error(format("declared size %d exceeds cluster_max_message (%d)", d, MAX_MESSAGE))
		end
		if npartial >= MAX_PARTIAL then
			error(format("more than %d unfinished multi-part messages", MAX_PARTIAL))
		end
		npartial = npartial + 1
		partial[b] = { addr = a, push = tag & 0x40 ~= 0, total = d, n = 0, last = skynet.now() }
		if not stale_timer then
			stale_timer = true
			skynet.timeout(UNFINISHED_TIMEOUT, drop_stale)
		end
	end
end

----------------------------------------------------------------------------
-- Socket events.

-- Frames and runs what is buffered; a malformed frame disconnects.
local function run_frames()
	local pop = framer.pop
	while not closed do
		local body = pop(framer)
		if body == nil then
			return
		end
		local ok, err = pcall(request, body)
		if not ok then
			skynet.error(format("cluster: disconnect %s (socket %d): %s", peer, fd, tostring(err)))
			shutdown()
			return
		end
	end
end

local function data(size, msg)
	if closed then
		driver.drop(msg, size)
		return
	end
	if early then
		early[#early + 1] = skynet.tostring(msg, size)
		driver.drop(msg, size)
		return
	end
	framer:push(msg, size)
	run_frames()
end

local function broken(err)
	skynet.error(format("cluster: connection %s (socket %d) broken: %s", peer, fd, tostring(err)))
	shutdown()
end

local dunpack = driver.unpack
local function socket_message(msg, sz)
	local t, id, ud, d = dunpack(msg, sz)
	if t == 1 then
		if id == fd then
			data(ud, d)
		else
			driver.drop(d, ud)
		end
	elseif id ~= fd then
		if t == 6 then driver.drop(d, ud) end
	elseif t == 2 then -- CONNECT "transfer": the socket is ours; ask for what came before
		if early and not early.asked then
			early.asked = true
			skynet.send(clusterd, "lua", "handoff", fd)
		end
	elseif t == 3 then -- CLOSE
		if early then early[#early + 1] = { close = true } else shutdown() end
	elseif t == 5 then -- ERROR
		if early then early[#early + 1] = { err = d } else broken(d) end
	elseif t == 7 and ud > 0 then
		skynet.error(format("cluster: %d K bytes waiting to be sent to %s", ud, peer))
	end
end

----------------------------------------------------------------------------

local CMD = {}

-- from clusterd: a registered name changed (handle nil: unregistered)
function CMD.name(name, handle)
	names[name] = handle
end

function CMD.exit()
	shutdown()
end

-- from clusterd: the bytes it received before we took the socket over
-- (false: the connection is already gone)
function CMD.handoff(bytes)
	local q = early
	if q == nil then
		return
	end
	early = nil
	if not bytes then
		shutdown()
		return
	end
	framer:push(bytes)
	run_frames()
	for _, e in ipairs(q) do
		if closed then
			return
		elseif type(e) == "string" then
			framer:push(e)
			run_frames()
		elseif e.close then
			shutdown()
		else
			broken(e.err)
		end
	end
end

local dispatch_message = skynet.dispatch_message

local function dispatch(ptype, msg, sz, session, source)
	if ptype == PTYPE_RESPONSE then
		local cs = pending[session]
		if cs then
			pending[session] = nil
			if not closed then
				respond_ok(cs, msg, sz)
			end
		else
			dispatch_message(ptype, msg, sz, session, source)
		end
	elseif ptype == PTYPE_SOCKET then
		socket_message(msg, sz)
	elseif ptype == PTYPE_ERROR then
		local cs = pending[session]
		if cs then
			pending[session] = nil
			if not closed then
				local text = ctostring(msg, sz)
				respond_error(cs, text ~= "" and text or "call failed")
			end
		else
			dispatch_message(ptype, msg, sz, session, source)
		end
	else
		dispatch_message(ptype, msg, sz, session, source)
	end
	local n = wb:size()
	if n > 0 and not closed and (n >= BATCH_BYTES or intcommand("STAT", "mqlen") == 0) then
		flush()
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = CMD[cmd]
		if f then
			f(...)
		end
	end)
	names = skynet.call(clusterd, "lua", "names")
	driver.start(fd)
	driver.nodelay(fd) -- responses leave at once (the wire does not depend on it)
	-- the takeover cannot get lost, but an agent must never wait for it forever
	skynet.timeout(HANDOFF_TIMEOUT, function()
		if early and not closed then
			skynet.error(format("cluster: %s (socket %d): no handoff from clusterd within %.1f s", peer, fd,
				HANDOFF_TIMEOUT / 100))
			shutdown()
		end
	end)
end)
c.callback(dispatch)
