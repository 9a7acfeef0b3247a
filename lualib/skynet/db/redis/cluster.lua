-- skynet.db.redis.cluster: a Redis Cluster client (upstream's API).
--
--   local rc = require "skynet.db.redis.cluster"
--   local db = rc.new({ {host = "127.0.0.1", port = 7000} }, { read_slave = false },
--       function(data, channel, pattern) ... end)      -- pub/sub messages
--   db:set("{user1}.name", "x")                        -- routed by key slot
--   db:subscribe("news") ; db:publish("news", "hi")
--
-- The slot map comes from CLUSTER SLOTS.  A command goes to the node that
-- owns its key's slot (the first argument; EVAL/EVALSHA: the first key,
-- all keys in one slot); MOVED patches that slot and reloads the map
-- before the next command, ASK sends ASKING + the command to the node
-- named, once.  A node that cannot be reached sends the next attempt to a
-- random node, which answers MOVED back to the owner; after 16 attempts
-- the command raises "Too many Cluster redirections?..." with the last
-- error.  Attempts after the 9th wait 0.1 s each, so a node that went
-- away fails its commands within about a second and serves them again
-- once it is back.  Connections are ordinary skynet.db.redis objects (one
-- per node, created single-flight), so they reconnect by themselves.
local skynet = require "skynet"
local redis = require "skynet.db.redis"
local crc16 = require "skynet.db.redis.crc16"

local pcall, error, type, tostring, tonumber, select = pcall, error, type, tostring, tonumber, select
local strfind, strsub, strlower, strformat = string.find, string.sub, string.lower, string.format
local table_pack, table_unpack = table.pack, table.unpack

local HASH_SLOTS = 16384
local REQUEST_TTL = 16    -- attempts per command
local SLOW_AFTER = 9      -- attempts after this one sleep RETRY_PAUSE first
local RETRY_PAUSE = 10    -- centiseconds
local DEFAULT_MAX_CONNECTIONS = 256

local cluster = {}

local methods = {}
local commands = {} -- generated db:<cmd>(...) = db:call("<cmd>", ...)
local meta = {
	__name = "redis.cluster",
	__index = function(self, name)
		local f = methods[name]
		if f ~= nil then
			return f
		end
		if type(name) ~= "string" then
			return nil
		end
		f = commands[name]
		if f == nil then
			f = function(db, ...)
				return db:call(name, ...)
			end
			commands[name] = f
		end
		return f
	end,
}

-- Commands that cannot be routed by a key.
local no_key = { info = true, multi = true, exec = true, slaveof = true, config = true, shutdown = true }
local pubsub = { subscribe = true, unsubscribe = true, psubscribe = true, punsubscribe = true }

-- cluster.new(startup_nodes, opt, onmessage) -> db.  startup_nodes: an
-- array of {host=, port=} or one such table.  opt: max_connections (256),
-- read_slave, auth, db (0), connect_timeout, read_timeout (passed to every
-- node connection).  Loads the slot map now and raises when no startup
-- node answers.
function cluster.new(startup_nodes, opt, onmessage)
	if type(startup_nodes) ~= "table" then
		error("redis.cluster: startup_nodes must be a table of {host=, port=}", 2)
	end
	if startup_nodes.host then
		startup_nodes = { startup_nodes }
	end
	opt = opt or {}
	local self = setmetatable({
		startup_nodes = startup_nodes,
		max_connections = opt.max_connections or DEFAULT_MAX_CONNECTIONS,
		connections = {},
		opt = opt,
		nodes = {},
		slots = {},
		refresh_table_asap = false,
		__onmessage = onmessage,
		__watches = {},
		__creating = {},
		__closed = false,
	}, meta)
	for _, node in ipairs(startup_nodes) do
		self:set_node_name(node)
	end
	local ok, err = self:initialize_slots_cache()
	if not ok then
		error("redis.cluster: no startup node answered CLUSTER SLOTS: " .. tostring(err), 2)
	end
	return self
end

function methods:set_node_name(node)
	if not node.name then
		node.name = node.host .. ":" .. tostring(node.port)
	end
	return node.name
end

function methods:get_redis_link(node)
	local opt = self.opt
	return redis.connect {
		host = node.host,
		port = node.port,
		auth = opt.auth,
		db = opt.db or 0,
		connect_timeout = opt.connect_timeout,
		read_timeout = opt.read_timeout,
	}
end

-- slot map ----------------------------------------------------------------------------

local function load_slots(self, node)
	local conn = self:get_connection(node)
	local list = conn:cluster("slots")
	local slots, nodes = {}, {}
	for _, r in ipairs(list) do
		local first, last, master = r[1], r[2], r[3]
		local m = { host = master[1], port = master[2], slaves = {} }
		if m.host == "" or m.host == nil then
			m.host = node.host -- "unknown endpoint": the node we asked
		end
		self:set_node_name(m)
		for i = 4, #r do
			local s = { host = r[i][1], port = r[i][2] }
			self:set_node_name(s)
			m.slaves[#m.slaves + 1] = s
		end
		for slot = first, last do
			slots[slot] = m
		end
		nodes[#nodes + 1] = m
	end
	self.slots, self.nodes = slots, nodes
end

-- Asks the startup nodes in order, then the nodes known from the last map
-- (a startup node may be the one that went away).  Returns true, or false
-- and the errors; the old map stays when nobody answers.
function methods:initialize_slots_cache()
	local errs = {}
	local tried = {}
	local candidates = {}
	for _, n in ipairs(self.startup_nodes) do candidates[#candidates + 1] = n end
	for _, n in ipairs(self.nodes or {}) do candidates[#candidates + 1] = n end
	for _, node in ipairs(candidates) do
		local name = self:set_node_name(node)
		if not tried[name] then
			tried[name] = true
			local ok, err = pcall(load_slots, self, node)
			if ok then
				self.refresh_table_asap = false
				return true
			end
			errs[#errs + 1] = name .. ": " .. tostring(err)
		end
	end
	return false, table.concat(errs, "; ")
end

function methods:flush_slots_cache()
	self.slots = {}
end

-- connections ---------------------------------------------------------------------------

function methods:close_existing_connection()
	local n = 0
	for _ in pairs(self.connections) do n = n + 1 end
	if n >= self.max_connections then
		local name, conn = next(self.connections)
		self.connections[name] = nil
		pcall(conn.disconnect, conn)
	end
end

-- Single-flight: concurrent callers for one node wait for the first one's
-- connect and share its result (or its error).
function methods:get_connection(node)
	local name = self:set_node_name(node)
	local conn = self.connections[name]
	if conn then
		return conn
	end
	local creating = self.__creating[name]
	if creating then
		local co = coroutine.running()
		creating.waiters[#creating.waiters + 1] = co
		skynet.wait(co)
		if creating.err then
			error(creating.err, 0)
		end
		return creating.conn
	end
	creating = { waiters = {} }
	self.__creating[name] = creating
	self:close_existing_connection()
	local ok, c = pcall(self.get_redis_link, self, node)
	self.__creating[name] = nil
	if ok then
		self.connections[name] = c
		creating.conn = c
	else
		creating.err = c
	end
	for _, co in ipairs(creating.waiters) do
		skynet.wakeup(co)
	end
	if not ok then
		error(c, 0)
	end
	return c
end

local function shuffled(list)
	local t = {}
	for i, v in ipairs(list) do t[i] = v end
	for i = #t, 2, -1 do
		local j = math.random(i)
		t[i], t[j] = t[j], t[i]
	end
	return t
end

function methods:get_random_connection()
	local list = #self.nodes > 0 and self.nodes or self.startup_nodes
	for _, node in ipairs(shuffled(list)) do
		local ok, conn = pcall(self.get_connection, self, node)
		if ok then
			local ok2, pong = pcall(conn.ping, conn)
			if ok2 then
				if pong == "PONG" then
					return conn
				end
				self.connections[node.name] = nil
				pcall(conn.disconnect, conn)
			end
		end
	end
	error("Can't reach a single startup node.", 2)
end

function methods:get_connection_by_slot(slot)
	local node = self.slots[slot]
	if not node then
		return self:get_random_connection()
	end
	local ok, conn = pcall(self.get_connection, self, node)
	if ok then
		return conn
	end
	if self.opt.read_slave and node.slaves and #node.slaves > 0 then
		local slave = node.slaves[math.random(#node.slaves)]
		local ok2, sconn = pcall(self.get_connection, self, slave)
		if ok2 and pcall(sconn.readonly, sconn) then
			return sconn
		end
	end
	return self:get_random_connection()
end

function methods:close_all_connection()
	local conns = self.connections
	self.connections = {}
	for _, conn in pairs(conns) do
		pcall(conn.disconnect, conn)
	end
end

-- db:disconnect(): closes every command connection and every pub/sub
-- watch (their loops end).  Not in upstream, whose watch loops run forever.
function methods:disconnect()
	self.__closed = true
	self:close_all_connection()
	local watches = self.__watches
	self.__watches = {}
	for _, w in pairs(watches) do
		if type(w) == "table" and getmetatable(w) then
			pcall(w.disconnect, w)
		end
	end
end

-- keys ------------------------------------------------------------------------------------

-- Hash tag: the text between the first "{" and the first "}" after it,
-- when not empty.
function methods:keyslot(key)
	key = tostring(key)
	local s = strfind(key, "{", 1, true)
	if s then
		local e = strfind(key, "}", s + 1, true)
		if e and e > s + 1 then
			key = strsub(key, s + 1, e - 1)
		end
	end
	return crc16(key) % HASH_SLOTS
end

-- argv = {cmd, arg1, ...}; cmd lower-cased.  The routing key or nil.
function methods:get_key_from_command(cmd, argv)
	if no_key[cmd] then
		return nil
	end
	if cmd == "eval" or cmd == "evalsha" then
		if (tonumber(argv[3]) or 0) <= 0 then
			return nil
		end
		return argv[4]
	end
	local key = argv[2]
	if type(key) == "table" then
		key = key[1]
	end
	return key
end

-- pub/sub -----------------------------------------------------------------------------------

local function watch_loop(self, w)
	local onmessage = self.__onmessage
	while not self.__closed and getmetatable(w) do
		local ok, data, channel, pattern = pcall(w.message, w)
		if ok then
			if onmessage then
				local mok, err = pcall(onmessage, data, channel, pattern)
				if not mok then
					skynet.error("redis.cluster: onmessage raised: " .. tostring(err))
				end
			end
		elseif not getmetatable(w) or self.__closed then
			break
		end
	end
end

local function get_watch(self, node)
	local name = self:set_node_name(node)
	local w = self.__watches[name]
	if type(w) == "table" and w.co == nil then
		return w
	end
	if w then
		-- being created by another coroutine
		local co = coroutine.running()
		w.waiters[#w.waiters + 1] = co
		skynet.wait(co)
		return get_watch(self, node)
	end
	local creating = { co = coroutine.running(), waiters = {} }
	self.__watches[name] = creating
	local ok, nw = pcall(redis.watch, {
		host = node.host, port = node.port, auth = self.opt.auth, db = self.opt.db or 0,
		connect_timeout = self.opt.connect_timeout,
	})
	self.__watches[name] = ok and nw or nil
	for _, co in ipairs(creating.waiters) do
		skynet.wakeup(co)
	end
	if not ok then
		error(nw, 0)
	end
	skynet.fork(watch_loop, self, nw)
	return nw
end

local function subscription(self, cmd, first, ...)
	if first == nil then
		error("redis.cluster: " .. cmd .. " needs a channel", 3)
	end
	local slot = self:keyslot(type(first) == "table" and first[1] or first)
	if not self.slots[slot] then
		self:initialize_slots_cache()
	end
	local node = self.slots[slot]
	if not node then
		error("redis.cluster: no node owns slot " .. slot, 3)
	end
	local w = get_watch(self, node)
	return w[cmd](w, first, ...)
end

-- dispatch ----------------------------------------------------------------------------------

local function is_connection_error(err)
	if type(err) == "string" then
		return strsub(err, 1, 7) == "redis: " or err == "Can't reach a single startup node."
			or strfind(err, "Can't reach a single startup node.", 1, true) ~= nil
	end
	return tostring(err) == "[Error: socket]"
end

local function strip_position(err)
	return err:match("^.+:%d+:%s(.*)$") or err
end

function methods:call(cmd, ...)
	local lcmd = strlower(cmd)
	if pubsub[lcmd] then
		return subscription(self, lcmd, ...)
	end
	local argv = table_pack(cmd, ...)
	local key = self:get_key_from_command(lcmd, argv)
	if key == nil then
		error("No way to dispatch this command to Redis Cluster: " .. tostring(cmd), 2)
	end
	if lcmd == "eval" or lcmd == "evalsha" then
		local slot = self:keyslot(key)
		for i = 5, 3 + tonumber(argv[3]) do
			if argv[i] ~= nil and self:keyslot(argv[i]) ~= slot then
				error(cmd .. " - all keys must map to the same key slot", 2)
			end
		end
	end
	if self.refresh_table_asap then
		self:initialize_slots_cache()
	end
	local slot = self:keyslot(key)
	local try_random, asking = false, nil
	local last_err
	for attempt = 1, REQUEST_TTL do
		if attempt > SLOW_AFTER then
			skynet.sleep(RETRY_PAUSE)
		end
		local ok, conn
		if asking then
			ok, conn = pcall(self.get_connection, self, asking)
		elseif try_random then
			ok, conn = pcall(self.get_random_connection, self)
		else
			ok, conn = pcall(self.get_connection_by_slot, self, slot)
		end
		local r
		if ok then
			if asking then
				r = table_pack(pcall(conn.pipeline, conn, { { "asking" }, argv }))
			else
				r = table_pack(pcall(conn[cmd], conn, ...))
			end
			ok = r[1]
			if ok then
				return table_unpack(r, 2, r.n)
			end
			last_err = r[2]
		else
			last_err = conn
		end
		local asked = asking
		asking = nil
		if is_connection_error(last_err) then
			try_random = true
		elseif type(last_err) ~= "string" then
			error(last_err, 0) -- e.g. an array holding an error
		else
			local msg = strip_position(last_err)
			local word, slotstr, addr = msg:match("^(%u+) (%d+) (%S+)")
			local host, port
			if addr then
				host, port = addr:match("^(.*):(%d+)$")
			end
			if (word == "MOVED" or word == "ASK") and port then
				if host == "" then
					host = (asked or self.slots[slot] or {}).host or "127.0.0.1"
				end
				local node = { host = host, port = tonumber(port) }
				self:set_node_name(node)
				try_random = false
				if word == "MOVED" then
					local old = self.slots[tonumber(slotstr)]
					node.slaves = old and old.slaves or {}
					self.slots[tonumber(slotstr)] = node
					self.refresh_table_asap = true
				else
					asking = node
				end
			else
				error(msg, 0)
			end
		end
	end
	error(strformat("Too many Cluster redirections?,maybe node is disconnected (last error: %q)", tostring(last_err)), 2)
end

return cluster
