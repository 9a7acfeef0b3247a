-- skynet.db.redis: a Redis client for skynet services (upstream's API;
-- protocol: RESP2).
--
--   local redis = require "skynet.db.redis"
--   local db = redis.connect { host = "127.0.0.1", port = 6379, db = 0, auth = "pw" }
--   db:set("k", 1)                       -- any method name is a command: SET k 1
--   local v = db:get("k")                -- "1"
--   db:pipeline { {"set","a",1}, {"incr","a"} }     -- one write, the last reply
--   local w = redis.watch { host = "127.0.0.1" }    -- pub/sub
--   w:subscribe("news") ; local msg, channel = w:message()
--
-- One connection per db object, over a socketchannel in order mode: every
-- command is one write plus a reader queued behind the earlier ones, so
-- any number of coroutines can share a db.  Requests are built and replies
-- parsed in C (lualib-src/lua-redisaux.c).  Replies: status -> the
-- string ("OK"), integer -> integer, bulk -> string or nil, array -> table
-- (nested; nil elements leave holes), error -> raises the error text;
-- an array holding an error raises the array.  exists/sismember return
-- booleans.
--
-- Failures (what a caller sees; every message starts with "redis: " except
-- Redis' own error replies, which are raised as Redis wrote them):
--   * server down / refused / a TCP connect longer than connect_timeout:
--     "redis: connect 127.0.0.1:6379 failed: <reason>"; the next command
--     tries again.
--   * connection lost with the command in flight: "redis: 127.0.0.1:6379:
--     connection lost before the reply (the command may have run)".
--   * no reply for read_timeout seconds (default: the config's
--     call_timeout if set, else 10; plus the command's own blocking time
--     for BLPOP & co.): the connection is closed, every command waiting on
--     it raises "redis: 127.0.0.1:6379: query timed out: no reply within N
--     s, connection closed"; the next command reconnects.
--   * AUTH / SELECT refused: "redis: login to 127.0.0.1:6379 failed: <text>".
-- A reconnect logs in again: AUTH [username] auth, then SELECT db.
local skynet = require "skynet"
local socketchannel = require "skynet.socketchannel"
local aux = require "skynet.redisaux"

local aux_command, aux_pipeline, aux_reply = aux.command, aux.pipeline, aux.reply
local sc_error = socketchannel.error
local skynet_now = skynet.now
local pcall, error, type, tostring, tonumber, select = pcall, error, type, tostring, tonumber, select
local setmetatable, getmetatable = setmetatable, getmetatable
local strfind, strsub, strbyte, strupper, strformat = string.find, string.sub, string.byte, string.upper, string.format

local redis = {}

-- Tunables (seconds; each can be set per connection in the conf).
local DEFAULT_CONNECT_TIMEOUT = 5 -- one TCP connect
local DEFAULT_READ_TIMEOUT = 10   -- silence from a server with commands waiting
local MAX_LINE = 64 * 1024        -- longest status/error/length line accepted
local MAX_DEPTH = 64              -- deepest nesting of arrays (REDIS_MAX_DEPTH in C)

-- reply reading ---------------------------------------------------------------------
-- Bytes read from a connection but not parsed yet stay with that
-- connection (keyed by the socketchannel's sock object, one per TCP
-- connection, so a new connection starts clean).  The fast path parses a
-- whole reply in C from what has arrived; a reply that is not all there
-- (a big bulk, a long array) is read element by element, each element
-- again parsed in C when it can be, so the cost stays linear.

local pending_bytes = setmetatable({}, { __mode = "k" })

local function protocol_error(why)
	error("redis: protocol error: " .. why, 0)
end

-- more(sock, b): appends whatever arrives next (at least one byte) to the
-- unparsed bytes of b = {bytes, pos}.
local function more(sock, b)
	local s, p = b[1], b[2]
	local chunk = sock:read()
	if p > #s then
		b[1] = chunk
	else
		b[1] = strsub(s, p) .. chunk
	end
	b[2] = 1
end

local function read_line(sock, b)
	while true do
		local s, p = b[1], b[2]
		local e = strfind(s, "\r\n", p, true)
		if e then
			b[2] = e + 2
			return strsub(s, p, e - 1)
		end
		if #s - p > MAX_LINE then
			protocol_error("line longer than 64 KiB")
		end
		more(sock, b)
	end
end

local function read_bulk(sock, b, n)
	local s, p = b[1], b[2]
	local have = #s - p + 1
	if have < n + 2 then
		s = strsub(s, p) .. sock:read(n + 2 - have)
		p = 1
	end
	if strsub(s, p + n, p + n + 1) ~= "\r\n" then
		protocol_error("bulk not followed by CRLF")
	end
	b[1], b[2] = s, p + n + 2
	return strsub(s, p, p + n - 1)
end

local function read_length(line)
	local n = tonumber(strsub(line, 2))
	if not n or math.type(n) ~= "integer" or n < -1 then
		protocol_error("bad length " .. strformat("%q", line))
	end
	return n
end

-- The slow path: one reply, reading as needed.  -> ok, value
local function read_stream(sock, b, depth)
	local s, p = b[1], b[2]
	if p <= #s then
		local np, ok, v = aux_reply(s, p, depth)
		if np then
			b[2] = np
			return ok, v
		end
	end
	local line = read_line(sock, b)
	local t = strbyte(line)
	if t == 43 then -- '+'
		return true, strsub(line, 2)
	elseif t == 45 then -- '-'
		return false, strsub(line, 2)
	elseif t == 58 then -- ':'
		local n = tonumber(strsub(line, 2))
		if math.type(n) ~= "integer" then
			protocol_error("bad integer " .. strformat("%q", line))
		end
		return true, n
	elseif t == 36 then -- '$'
		local n = read_length(line)
		if n < 0 then
			return true, nil
		end
		return true, read_bulk(sock, b, n)
	elseif t == 42 then -- '*'
		local n = read_length(line)
		if n < 0 then
			return true, nil
		end
		if depth >= MAX_DEPTH then
			protocol_error("arrays nested too deep")
		end
		local arr, all_ok = {}, true
		for i = 1, n do
			local ok, v = read_stream(sock, b, depth + 1)
			if not ok then
				all_ok = false
			end
			arr[i] = v
		end
		return all_ok, arr
	end
	protocol_error(strformat("unsupported reply type %q", strsub(line, 1, 1)))
end

-- The reader of one reply (socketchannel order mode): -> ok, value
local function read_reply(sock)
	local b = pending_bytes[sock]
	if b == nil then
		b = { "", 1 }
		pending_bytes[sock] = b
	end
	local s, p = b[1], b[2]
	if p > #s then
		s, p = sock:read(), 1
		b[1], b[2] = s, 1
	end
	local np, ok, v = aux_reply(s, p)
	if np then
		b[2] = np
		return ok, v
	end
	return read_stream(sock, b, 0)
end

-- connection state -----------------------------------------------------------------
-- st (db[1] / watch[1]): the channel and the bookkeeping of the read
-- timeout: how many requests wait, how many of them may block forever
-- (BLPOP k 0), the longest blocking time among them, when a reply last
-- arrived.  One timer per connection runs while requests wait.

local function seconds(v, default)
	if v == nil then
		return default
	end
	if v == false or v == 0 then
		return nil
	end
	v = tonumber(v)
	if not v or v < 0 then
		error("redis: a timeout must be a number of seconds", 3)
	end
	return v
end

-- The default read timeout: the config's call_timeout (cs) when set, else
-- DEFAULT_READ_TIMEOUT.
local function config_read_timeout()
	local cs = tonumber(skynet.getenv "call_timeout")
	if cs and cs > 0 then
		return cs / 100
	end
	return DEFAULT_READ_TIMEOUT
end

local function new_state(conf, what)
	if type(conf) ~= "table" then
		error("redis: " .. what .. " needs a conf table {host=, port=, ...}", 3)
	end
	local host = conf.host or error("redis: " .. what .. ": conf.host is missing", 3)
	local port = tonumber(conf.port or 6379) or error("redis: " .. what .. ": bad conf.port", 3)
	return {
		host = host,
		port = port,
		name = host .. ":" .. port,
		auth = conf.auth,
		username = conf.username,
		db = conf.db,
		connect_timeout = seconds(conf.connect_timeout, DEFAULT_CONNECT_TIMEOUT),
		read_timeout = seconds(conf.read_timeout, config_read_timeout()),
		pending = 0,
		unbounded = 0,
		extra = 0,
		progress = 0,
		armed = false,
		drops = 0,
		drop_reason = nil,
		block_next = nil,
		closed = false,
		ch = nil,
	}
end

local function watchdog_interval(st)
	local cs = st.read_timeout * 50
	if cs > 100 then
		cs = 100
	elseif cs < 1 then
		cs = 1
	end
	return math.floor(cs)
end

local function arm(st)
	st.armed = true
	skynet.timeout(watchdog_interval(st), st.check)
end

local function make_check(st)
	return function()
		st.armed = false
		if st.closed or st.pending == 0 then
			return
		end
		if st.unbounded == 0 then
			local limit = (st.read_timeout + st.extra) * 100
			if skynet_now() - st.progress > limit then
				st.drops = st.drops + 1
				st.drop_reason = strformat("redis: %s: query timed out: no reply within %g s, connection closed",
					st.name, st.read_timeout + st.extra)
				skynet.error(st.drop_reason)
				st.progress = skynet_now()
				st.ch:reset()
			end
		end
		if st.pending > 0 then
			arm(st)
		end
	end
end

-- Turns a socketchannel failure into a message that says what happened.
local function failure(st, err, drops_before)
	if err ~= sc_error then
		return err
	end
	if st.closed then
		return strformat("redis: %s: the connection was closed by disconnect()", st.name)
	end
	if st.drops ~= drops_before and st.drop_reason then
		return st.drop_reason
	end
	local reason = st.ch:last_error()
	if reason then
		-- socketchannel says "host:port reason"; the host is in our message
		if strsub(reason, 1, #st.name + 1) == st.name .. " " then
			reason = strsub(reason, #st.name + 2)
		end
		return strformat("redis: connect %s failed: %s", st.name, reason)
	end
	return strformat("redis: %s: connection lost before the reply (the command may have run)", st.name)
end

-- One request and its reply, with the read-timeout bookkeeping.
local function request(st, req, reader)
	local block = st.block_next
	if st.pending == 0 then
		st.progress = skynet_now()
		st.extra = 0
	end
	st.pending = st.pending + 1
	if block then
		st.block_next = nil
		if block == true then
			st.unbounded = st.unbounded + 1
		elseif block > st.extra then
			st.extra = block
		end
	end
	if st.read_timeout and not st.armed then
		arm(st)
	end
	local drops = st.drops
	local ok, r = pcall(st.ch.request, st.ch, req, reader)
	st.pending = st.pending - 1
	st.progress = skynet_now()
	if block == true then
		st.unbounded = st.unbounded - 1
	end
	if not ok then
		error(failure(st, r, drops), 0)
	end
	return r
end

-- Requests built without a db object (login, watch): the builder's "send"
-- just returns the request string.
local function return_request(_, req)
	return req
end
local build = setmetatable({}, {
	__index = function(t, name)
		local f = aux_command(name, return_request)
		t[name] = f
		return f
	end,
})

-- AUTH [username] password, then SELECT db; every (re)connect.
local function login(st)
	if st.auth then
		local req
		if st.username then
			req = build.AUTH(nil, st.username, st.auth)
		else
			req = build.AUTH(nil, st.auth)
		end
		local ok, err = pcall(request, st, req, read_reply)
		if not ok then
			error(strformat("redis: login to %s failed: %s", st.name, tostring(err)), 0)
		end
	end
	if st.db then
		local ok, err = pcall(request, st, build.SELECT(nil, st.db), read_reply)
		if not ok then
			error(strformat("redis: login to %s failed: SELECT %s: %s", st.name, tostring(st.db), tostring(err)), 0)
		end
	end
end

local function new_channel(st, conf, auth)
	return socketchannel.channel {
		host = st.host,
		port = st.port,
		auth = auth,
		nodelay = true,
		overload = conf.overload,
		connect_timeout = st.connect_timeout and math.max(1, math.floor(st.connect_timeout * 100)),
	}
end

-- Closing from __gc must not block: the close runs in its own coroutine.
local function gc_close(self)
	local st = rawget(self, 1)
	if st and not st.closed then
		st.closed = true
		skynet.fork(function() st.ch:close() end)
	end
end

-- db objects ------------------------------------------------------------------------

local command = {}
local db_meta = { __index = command, __name = "redis", __gc = gc_close }

local function send(self, req, boolean_reply)
	local r = request(self[1], req, read_reply)
	if boolean_reply then
		return r ~= 0
	end
	return r
end

-- Commands that block on the server for a time given in their arguments:
-- the read timeout is extended by it (0 = forever: no read timeout while
-- such a command waits).  where(args, n) -> the blocking time in seconds.
local function last_arg(args, n)
	return tonumber(args[n])
end
local function first_arg(args)
	return tonumber(args[1])
end
local function last_arg_ms(args, n)
	local v = tonumber(args[n])
	return v and v / 1000
end
local function block_option(args, n)
	for i = 1, n - 1 do
		if type(args[i]) == "string" and strupper(args[i]) == "BLOCK" then
			local v = tonumber(args[i + 1])
			return v and v / 1000
		end
	end
	return false -- not blocking at all
end
local blocking = {
	blpop = last_arg, brpop = last_arg, brpoplpush = last_arg, blmove = last_arg,
	bzpopmin = last_arg, bzpopmax = last_arg, blmpop = first_arg, bzmpop = first_arg,
	wait = last_arg_ms, waitaof = last_arg_ms, xread = block_option, xreadgroup = block_option,
}

local function blocking_method(name, f)
	local where = blocking[name]
	return function(self, ...)
		local args, n = { ... }, select("#", ...)
		if type(args[1]) == "table" then
			args = args[1]
			n = args.n or #args
		end
		local t = where(args, n)
		if t ~= false then
			if t == nil or t <= 0 then
				t = true -- blocks until something arrives
			end
			rawget(self, 1).block_next = t
		end
		local r = table.pack(pcall(f, self, ...))
		rawget(self, 1).block_next = nil -- not taken when the request was refused
		if not r[1] then
			error(r[2], 0)
		end
		return table.unpack(r, 2, r.n)
	end
end

setmetatable(command, {
	__index = function(t, name)
		if type(name) ~= "string" then
			return nil
		end
		local lname = name:lower()
		local f = aux_command(strupper(name), send, (lname == "exists" or lname == "sismember") or nil)
		if blocking[lname] then
			f = blocking_method(lname, f)
		end
		t[name] = f
		return f
	end,
})

-- redis.connect(conf) -> db.  conf: host, port (6379), auth, username, db,
-- overload, connect_timeout (s, default 5), read_timeout (s, default 10;
-- false = none).  Connects now; raises when that fails.
function redis.connect(conf)
	local st = new_state(conf, "connect")
	st.check = make_check(st)
	local auth
	if st.auth or st.db then
		auth = function() login(st) end
	end
	st.ch = new_channel(st, conf, auth)
	local ok, err = pcall(st.ch.connect, st.ch, true)
	if not ok then
		error(failure(st, err, st.drops), 0)
	end
	return setmetatable({ st }, db_meta)
end

-- db:pipeline(ops [, resp]): ops = { {cmd, arg...}, ... } sent in one write
-- (names as given).  Without resp: the last reply (raises only if that one
-- is an error).  With resp: appends {ok=, out=} per op and returns resp.
-- A lost connection or a timeout raises instead, whatever ran: an unknown
-- prefix of the ops may have been applied (use MULTI/EXEC in the pipeline
-- for all or nothing).
function command:pipeline(ops, resp)
	if type(ops) ~= "table" or ops[1] == nil then
		error("pipeline is null", 2)
	end
	local st = self[1]
	local req, n = aux_pipeline(ops)
	local reader
	if resp then
		reader = function(sock)
			for _ = 1, n do
				local ok, out = read_reply(sock)
				resp[#resp + 1] = { ok = ok, out = out }
				st.progress = skynet_now()
			end
			return true, resp
		end
	else
		reader = function(sock)
			local ok, out
			for _ = 1, n do
				ok, out = read_reply(sock)
			end
			return ok, out
		end
	end
	return request(st, req, reader)
end

-- db:disconnect(): closes; the object has no methods afterwards.
function command:disconnect()
	local st = self[1]
	st.closed = true
	st.ch:close()
	setmetatable(self, nil)
end

-- watch (pub/sub) ---------------------------------------------------------------------

local watch = {}
local watch_meta = { __index = watch, __name = "redis.watch", __gc = gc_close }

-- Subscriptions are remembered when requested (not when acknowledged) and
-- sent again after a reconnect: patterns first, then channels.
local function watch_login(st)
	login(st)
	for p in pairs(st.patterns) do
		st.ch:request(build.PSUBSCRIBE(nil, p))
	end
	for c in pairs(st.channels) do
		st.ch:request(build.SUBSCRIBE(nil, c))
	end
end

-- redis.watch(conf) -> w.  conf as for connect (no overload, no read
-- timeout: a watch waits for pushes as long as it takes).
function redis.watch(conf)
	local st = new_state(conf, "watch")
	st.read_timeout = nil
	st.check = make_check(st)
	st.channels, st.patterns = {}, {}
	st.ch = new_channel(st, {}, function() watch_login(st) end)
	local ok, err = pcall(st.ch.connect, st.ch, true)
	if not ok then
		error(failure(st, err, st.drops), 0)
	end
	return setmetatable({ st }, watch_meta)
end

-- One command per argument; a table argument is one command with all of
-- its elements.  Nothing is read here: acknowledgements are consumed by
-- message().
local function subscription(name, set_name, add)
	return function(self, ...)
		local st = self[1]
		local set = st[set_name]
		local n = select("#", ...)
		local function one(arg)
			if type(arg) == "table" then
				for i = 1, #arg do
					set[arg[i]] = add or nil
				end
			else
				set[arg] = add or nil
			end
			local ok, err = pcall(st.ch.request, st.ch, build[name](nil, arg))
			if not ok then
				error(failure(st, err, st.drops), 0)
			end
		end
		if n == 0 and not add then
			-- no names: leave them all
			for k in pairs(set) do
				set[k] = nil
			end
			local ok, err = pcall(st.ch.request, st.ch, build[name](nil))
			if not ok then
				error(failure(st, err, st.drops), 0)
			end
		end
		for i = 1, n do
			one((select(i, ...)))
		end
	end
end

watch.subscribe = subscription("SUBSCRIBE", "channels", true)
watch.psubscribe = subscription("PSUBSCRIBE", "patterns", true)
watch.unsubscribe = subscription("UNSUBSCRIBE", "channels", false)
watch.punsubscribe = subscription("PUNSUBSCRIBE", "patterns", false)

-- w:message() -> payload, channel [, pattern].  Blocks until a message
-- arrives; a lost connection raises, and the next call reconnects (trying
-- until it succeeds or the watch is disconnected) and subscribes again.
function watch:message()
	local st = self[1]
	local ch = st.ch
	while true do
		if st.closed then
			error(failure(st, sc_error, st.drops), 0)
		end
		if not ch:connected() then
			local ok, err = pcall(ch.connect, ch, false)
			if not ok then
				error(failure(st, err, st.drops), 0)
			end
		end
		local ok, r = pcall(ch.response, ch, read_reply)
		if not ok then
			error(failure(st, r, st.drops), 0)
		end
		if type(r) == "table" then
			local kind = r[1]
			if kind == "message" then
				return r[3], r[2]
			elseif kind == "pmessage" then
				return r[4], r[3], r[2]
			end
		end
	end
end

-- w:disconnect(): closes; a message() in progress raises, and the object
-- has no methods afterwards.
function watch:disconnect()
	local st = self[1]
	st.closed = true
	st.ch:close()
	setmetatable(self, nil)
end

return redis
