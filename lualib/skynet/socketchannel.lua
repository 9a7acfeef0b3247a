-- skynet.socketchannel: a request/response client over one TCP connection
-- that reconnects by itself (upstream's API).  The mysql,
-- redis and mongo drivers and the cluster sender are built on it.
--
--   local sc = require "skynet.socketchannel"
--   local ch = sc.channel { host = "127.0.0.1", port = 3306, auth = f }
--   ch:connect(true)
--   local data = ch:request("PING\r\n", function(sock) return true, sock:readline("\r\n") end)
--
-- Two modes, chosen by the channel description:
--
--   order mode (no `response` in the description): every request brings
--     its own reader `f(sock) -> ok, data`; replies are taken in the order
--     the requests were written.  One dispatch coroutine calls the readers
--     one after the other, so a reader may read as many bytes (packets) as
--     its reply has.
--   session mode (`response = f(sock) -> session, ok, data[, padding]`):
--     the dispatch coroutine reads replies continuously and hands each to
--     the requester waiting for that session.  A reply with `padding` true
--     is one part of several: parts are collected and delivered together,
--     as an array, with the last part (padding false).
--
-- Failures.  When the connection drops (or a reader raises), the connection
-- is closed and every waiting requester gets an error: `sc.error` (a unique
-- value, tostring "[Error: socket]") for socket failures; the requester
-- whose reader raised gets that reader's error.  A reader returning
-- `false, msg` raises `msg` in its requester only (the stream stays in
-- step).  The next request connects again (one attempt), runs `auth`, and
-- goes on; `connect(false)` retries forever with growing pauses.
--
-- Connection states (self.__sock): nil = not connected; a sock object
-- (setmetatable({fd}, sock_mt)) while connected.  A connect in progress is
-- self.__connecting = {owner = co, waiters = {...}}; requests from other
-- coroutines wait for it to finish, requests from the connecting coroutine
-- itself (the auth callback) go straight through.
local skynet = require "skynet"
local socket = require "skynet.socket"
local driver = require "skynet.socketdriver"

local coroutine_running = coroutine.running
local error, pcall, type, tostring, setmetatable = error, pcall, type, tostring, setmetatable
local string_format = string.format
local table_remove = table.remove

local sc = {}

local socket_error = setmetatable({}, {
	__tostring = function() return "[Error: socket]" end,
	__name = "socketchannel.error",
})
sc.error = socket_error

local channel = {}
local channel_meta = { __index = channel, __name = "socketchannel" }

-- sock object handed to readers ----------------------------------------------

local sock = {}
local sock_meta = { __index = sock, __name = "socketchannel.sock" }

-- sock:read(n) -> exactly n bytes; sock:read() -> whatever is buffered.
-- Raises sc.error when the connection closes first.
function sock:read(sz)
	local ret = self.__read(self[1], sz)
	if ret then
		return ret
	end
	error(socket_error)
end

-- sock:readline(sep = "\n") -> one line without the separator.
function sock:readline(sep)
	local ret = self.__readline(self[1], sep)
	if ret then
		return ret
	end
	error(socket_error)
end

-- channel ----------------------------------------------------------------------

-- sc.channel(desc): desc = {host, port, backup = {...}, auth = f(channel),
-- response = f(sock) (session mode), nodelay = bool, overload = f(bool),
-- socket_read = f(fd, sz), socket_readline = f(fd, sep), connect_timeout =
-- centiseconds one TCP connect may take (default: no limit)}.  Does not
-- connect.
function sc.channel(desc)
	assert(type(desc) == "table", "socketchannel: channel needs a description table")
	local c = {
		__host = assert(desc.host, "socketchannel: no host"),
		__port = desc.port and assert(tonumber(desc.port), "socketchannel: bad port"),
		__backup = desc.backup,
		__auth = desc.auth,
		__response = desc.response, -- session mode when set
		__nodelay = desc.nodelay,
		__connect_timeout = desc.connect_timeout,
		__overload_notify = desc.overload,
		__overload = false,
		__read = desc.socket_read or socket.read,
		__readline = desc.socket_readline or socket.readline,
		__sock = nil,
		__closed = false,
		__connecting = nil,
		-- order mode: FIFO of pending records {reader, co-token}; head/tail indexes
		__queue = {},
		__qhead = 1,
		__qtail = 0,
		-- session mode: session -> pending record
		__session = {},
		__last_error = nil, -- text of the last connect failure
	}
	return setmetatable(c, channel_meta)
end

-- pending records ---------------------------------------------------------------
-- A record is the token its requester sleeps on (skynet.wait(rec)).  The
-- dispatcher fills in ok/data (reply) or err (failure) and wakes it.

local function deliver(rec, ok, data)
	rec.done = true
	rec.ok = ok
	rec.data = data
	skynet.wakeup(rec)
end

local function fail(rec, err)
	rec.done = true
	rec.err = err
	skynet.wakeup(rec)
end

-- Fails every pending record with `err`.
local function fail_all(self, err)
	local q = self.__queue
	for i = self.__qhead, self.__qtail do
		local rec = q[i]
		q[i] = nil
		if rec then
			fail(rec, err)
		end
	end
	self.__qhead, self.__qtail = 1, 0
	local sessions = self.__session
	self.__session = {}
	for _, rec in pairs(sessions) do
		fail(rec, err)
	end
end

-- Closes sockobj (once) and, when it is the current connection, forgets it
-- and fails the requests still waiting on it.  `err` is what they get.
local function drop_connection(self, sockobj, err)
	if sockobj.closed then
		return
	end
	sockobj.closed = true
	if self.__sock == sockobj then
		self.__sock = nil
		fail_all(self, err or socket_error)
	end
	if self.__overload then
		self.__overload = false
		if self.__overload_notify then
			self.__overload_notify(false)
		end
	end
	skynet.wakeup(sockobj) -- an idle order-mode dispatcher
	socket.close(sockobj[1])
end

-- dispatch coroutines --------------------------------------------------------------

local function dispatch_by_order(self, sockobj)
	local q = self.__queue
	while not sockobj.closed do
		local head = self.__qhead
		local rec = q[head]
		if rec == nil then
			-- nothing to read for now: sleep until a request is queued or
			-- the connection is closed
			sockobj.idle = true
			skynet.wait(sockobj)
			sockobj.idle = false
		else
			local ok, result_ok, result_data = pcall(rec.reader, sockobj)
			if sockobj.closed then
				-- closed under the reader (close/changehost): the record was
				-- already failed by drop_connection
				break
			end
			q[head] = nil
			if head == self.__qtail then
				-- empty again: start over at 1 (keeps the queue an array)
				self.__qhead, self.__qtail = 1, 0
			else
				self.__qhead = head + 1
			end
			if ok then
				deliver(rec, result_ok, result_data)
			elseif result_ok == socket_error then
				fail(rec, socket_error)
				drop_connection(self, sockobj, socket_error)
			else
				-- the reader raised: the stream position is unknown now
				fail(rec, result_ok)
				skynet.error(string_format("socketchannel %s:%s: reader error, closing: %s",
					self.__host, tostring(self.__port), tostring(result_ok)))
				drop_connection(self, sockobj, socket_error)
			end
		end
	end
end

local function dispatch_by_session(self, sockobj)
	local response = self.__response
	while not sockobj.closed do
		local ok, session, result_ok, result_data, padding = pcall(response, sockobj)
		if sockobj.closed then
			break
		end
		if ok and session ~= nil then
			local rec = self.__session[session]
			if rec == nil then
				skynet.error(string_format("socketchannel %s:%s: unknown session %s",
					self.__host, tostring(self.__port), tostring(session)))
			elseif padding and result_ok then
				-- one part of several: keep it, wait for the rest
				local parts = rec.parts
				if not parts then
					parts = {}
					rec.parts = parts
				end
				parts[#parts + 1] = result_data
			else
				self.__session[session] = nil
				local parts = rec.parts
				if parts and result_ok then
					parts[#parts + 1] = result_data
					result_data = parts
				end
				deliver(rec, result_ok, result_data)
			end
		else
			local err = ok and "socketchannel: response reader returned no session" or session
			if err ~= socket_error then
				skynet.error(string_format("socketchannel %s:%s: response error, closing: %s",
					self.__host, tostring(self.__port), tostring(err)))
			end
			drop_connection(self, sockobj, socket_error)
		end
	end
end

-- connecting ----------------------------------------------------------------------

local function parse_backup(b)
	if type(b) == "table" then
		return b.host, tonumber(b.port)
	end
	local host, port = tostring(b):match("^%[?([^%]]-)%]?:(%d+)$")
	if host then
		return host, tonumber(port)
	end
	return b, nil
end

-- Write-buffer warnings become overload(true) / overload(false) calls.
local function watch_overload(self, sockobj)
	local notify = self.__overload_notify
	if not notify then
		return
	end
	socket.warning(sockobj[1], function(_, size)
		if self.__sock ~= sockobj then
			return
		end
		if size == 0 then
			if self.__overload then
				self.__overload = false
				notify(false)
			end
		elseif not self.__overload then
			self.__overload = true
			notify(true)
		else
			skynet.error(string_format("WARNING: %d K bytes need to send out (fd = %d %s:%s)",
				size, sockobj[1], self.__host, tostring(self.__port)))
		end
	end)
end

-- Opens host:port and starts its dispatcher; returns the sock object or
-- nil, reason.
local function open_one(self, host, port)
	if not port then
		return nil, "no port"
	end
	local fd, err = socket.open(host, port, self.__connect_timeout)
	if not fd then
		return nil, err or "connect failed"
	end
	if self.__nodelay then
		driver.nodelay(fd)
	end
	local sockobj = setmetatable({ fd, __read = self.__read, __readline = self.__readline }, sock_meta)
	self.__sock = sockobj
	watch_overload(self, sockobj)
	if self.__response then
		skynet.fork(dispatch_by_session, self, sockobj)
	else
		skynet.fork(dispatch_by_order, self, sockobj)
	end
	return sockobj
end

-- One round: the host, then every backup.  Runs auth on the first socket
-- that opens.  Returns true; or false, reason (network); raises a non-socket
-- error from auth (a wrong password is not worth retrying).
local function try_connect(self)
	local candidates = { { self.__host, self.__port } }
	if self.__backup then
		for _, b in ipairs(self.__backup) do
			candidates[#candidates + 1] = { parse_backup(b) }
		end
	end
	local reasons = {}
	for i, cand in ipairs(candidates) do
		local host, port = cand[1], cand[2]
		local sockobj, err = open_one(self, host, port)
		if sockobj then
			if i > 1 then
				-- a backup answered: it becomes the main address
				skynet.error(string_format("socketchannel: %s:%s unreachable, using backup %s:%s",
					tostring(self.__host), tostring(self.__port), host, tostring(port)))
				self.__host, self.__port = host, port
			end
			if not self.__auth then
				return true
			end
			local ok, aerr = pcall(self.__auth, self)
			if ok and self.__sock == sockobj then
				return true
			end
			drop_connection(self, sockobj, socket_error)
			if ok then
				err = "closed during auth"
			elseif aerr == socket_error then
				err = "closed during auth"
			else
				error(aerr, 0)
			end
		end
		reasons[#reasons + 1] = string_format("%s:%s %s", tostring(host), tostring(port), tostring(err))
	end
	return false, table.concat(reasons, "; ")
end

local function connect_failed(self, reason)
	self.__last_error = reason
	skynet.error("socketchannel: Connect failed " .. reason)
end

-- Makes sure the channel is connected.  once: a single round (host and
-- backups), else retry with growing pauses until connected or closed.
-- Raises sc.error when it gives up (or the channel is closed), or the
-- auth callback's own error.
local function block_connect(self, once)
	local co = coroutine_running()
	while true do
		if self.__closed then
			error(socket_error)
		end
		local c = self.__connecting
		if c then
			if c.owner == co then
				-- the auth callback talking on the new connection
				if not self.__sock then
					error(socket_error)
				end
				return
			end
			local w = {}
			c.waiters[#c.waiters + 1] = w
			skynet.wait(w)
			if c.failed and once then
				error(c.failed, 0)
			end
			-- else look again: connected now, or try ourselves
		elseif self.__sock then
			local fd = self.__sock[1]
			if not socket.disconnected(fd) then
				return
			end
			-- closed while idle (e.g. the server went away between requests)
			drop_connection(self, self.__sock, socket_error)
		else
			c = { owner = co, waiters = {} }
			self.__connecting = c
			local ok, connected, reason = pcall(try_connect, self)
			local pause = 10
			while ok and not connected and not once and not self.__closed do
				connect_failed(self, reason)
				skynet.sleep(pause)
				if pause < 500 then
					pause = pause * 2
				end
				ok, connected, reason = pcall(try_connect, self)
			end
			self.__connecting = nil
			if ok and connected then
				self.__last_error = nil
			end
			if not ok then
				c.failed = connected -- the auth error
			elseif not connected then
				connect_failed(self, reason or "channel closed")
				c.failed = socket_error
			end
			for _, w in ipairs(c.waiters) do
				skynet.wakeup(w)
			end
			if c.failed then
				error(c.failed, 0)
			end
			if self.__closed then
				error(socket_error)
			end
			return
		end
	end
end

-- ch:connect(once): connect now (see block_connect).  Returns true.
function channel:connect(once)
	self.__closed = false
	block_connect(self, once)
	return true
end

-- requests -------------------------------------------------------------------------

local function wait_for(rec)
	skynet.wait(rec)
	if not rec.done then
		error(socket_error)
	end
	if rec.err ~= nil then
		error(rec.err, 0)
	end
	if not rec.ok then
		error(rec.data)
	end
	return rec.data
end

-- Queues a waiting record (before anything can answer it) and returns it.
local function push_order(self, reader)
	local rec = { reader = reader }
	local tail = self.__qtail + 1
	self.__qtail = tail
	self.__queue[tail] = rec
	local sockobj = self.__sock
	if sockobj and sockobj.idle then
		skynet.wakeup(sockobj)
	end
	return rec
end

local function push_session(self, session)
	if self.__session[session] then
		error(string_format("socketchannel: session %s is already waiting", tostring(session)), 3)
	end
	local rec = {}
	self.__session[session] = rec
	return rec
end

local function send(self, request, padding)
	local fd = self.__sock[1]
	local ok = socket.write(fd, request)
	if ok and padding then
		for i = 1, #padding do
			ok = socket.lwrite(fd, padding[i])
			if not ok then break end
		end
	end
	if not ok then
		drop_connection(self, self.__sock, socket_error)
		error(socket_error)
	end
end

-- ch:request(data, response?, padding?): order mode: response is the reader
-- f(sock) -> ok, data; session mode: response is the session.  data: a
-- string or an array of strings; padding: more parts written with low
-- priority.  Without response, only writes.  Returns the reply data.
function channel:request(request, response, padding)
	block_connect(self, true)
	if response == nil then
		send(self, request, padding)
		return
	end
	local rec
	if self.__response then
		rec = push_session(self, response)
		local ok, err = pcall(send, self, request, padding)
		if not ok then
			self.__session[response] = nil
			error(err, 0)
		end
	else
		-- write first: a failed write must not leave a reader queued
		send(self, request, padding)
		rec = push_order(self, response)
	end
	return wait_for(rec)
end

-- ch:response(reader | session): wait for a reply nobody asked for (the
-- server's greeting, a pushed message).
function channel:response(response)
	block_connect(self, true)
	local rec
	if self.__response then
		rec = push_session(self, response)
	else
		rec = push_order(self, response)
	end
	return wait_for(rec)
end

-- ch:close(): close for good; waiting requesters get sc.error.  A later
-- ch:connect() opens the channel again.
function channel:close()
	if self.__closed then
		return
	end
	self.__closed = true
	local sockobj = self.__sock
	if sockobj then
		drop_connection(self, sockobj, socket_error)
	end
	fail_all(self, socket_error)
end

-- ch:changehost(host, port?): the next connect goes there; the current
-- connection (if any) is closed.
function channel:changehost(host, port)
	self.__host = host
	if port then
		self.__port = tonumber(port)
	end
	local sockobj = self.__sock
	if sockobj and not self.__connecting then
		drop_connection(self, sockobj, socket_error)
	end
end

-- ch:reset(): close the current connection (also one still logging in);
-- the requests waiting on it fail with sc.error and the next request
-- connects again.  For drivers that give up on a silent server.
function channel:reset()
	local sockobj = self.__sock
	if sockobj then
		drop_connection(self, sockobj, socket_error)
	end
end

-- ch:changebackup(list): replace the backup addresses ({"host:port", ...}
-- or {{host=, port=}, ...}).
function channel:changebackup(backup)
	self.__backup = backup
end

-- Extra, for drivers and tests: is there a live connection now?
function channel:connected()
	local s = self.__sock
	return s ~= nil and not self.__connecting and not s.closed and not socket.disconnected(s[1])
end

-- The reason the last connect attempt failed ("host:port reason; ..."), or
-- nil when the last attempt succeeded.
function channel:last_error()
	return self.__last_error
end

return sc
