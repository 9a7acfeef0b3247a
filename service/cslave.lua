-- cslave.lua -- `.cslave` of a harbor-mode node (harbor = 1..255; with
-- harbor = 0 bootstrap starts cdummy.lua instead).
--
-- It starts the C `harbor` service (which owns the slave-to-slave
-- connections and routes remote messages), then:
--   1. listens on config `address` for other slaves;
--   2. connects to config `master`, sends H(id, address), reads W(n);
--   3. hands the next n accepted connections to the harbor service (which
--      reads the peer's id byte) and stops listening once they are up;
--   4. connects to later joiners when the master says C(id, address).
-- It keeps the node's view of the global names (N from the master) and
-- serves the skynet.harbor API (lua protocol):
--   REGISTER name handle  -- R to the master; bound locally at once
--   QUERYNAME name        -- handle; waits for the name (Q to the master);
--                            ".name" answered locally; fails once the
--                            master is gone and the name is still unknown
--   LINK id               -- returns when harbor id disconnects (at once
--                            if it is not connected)
--   CONNECT id            -- returns when harbor id is connected
--   LINKMASTER            -- returns when the master connection is lost
-- The harbor service reports "U id" (link up), "D id" (link lost) and
-- "Q name" (a name it has messages for) as PTYPE_TEXT.

local skynet = require "skynet"
local socket = require "skynet.socket"
local packet = require "skynet.harborpacket"
require "skynet.manager"

local harbor_id
local harbor_service
local master_fd
local master_lost = false
local starting = true      -- until the n connections of step 3 are up
local accept_left = 0      -- connections step 3 still waits for
local startup_co           -- the start function, waiting for them
local pending_connect = {} -- C packets that arrived during step 3
local connected = {}       -- harbor id -> true while its link is up
local globalname = {}      -- name -> handle
local asked = {}           -- name -> true: Q sent to the master
local name_waiters = {}    -- name -> { response, ... }
local link_waiters = {}    -- harbor id -> { response, ... }
local connect_waiters = {} -- harbor id -> { response, ... }
local master_waiters = {}  -- { response, ... }

local function log(fmt, ...)
	skynet.error(string.format("cslave: " .. fmt, ...))
end

skynet.register_protocol {
	name = "harbor",
	id = skynet.PTYPE_HARBOR,
	pack = function(...) return ... end,
	unpack = skynet.tostring,
}

local function wake(list, ...)
	if list then
		for _, resp in ipairs(list) do
			resp(...)
		end
	end
end

local function valid_name(name)
	return type(name) == "string" and #name >= 1 and #name <= 15 and not name:find("^[.:]")
end

-- A name and its handle are known: tell the harbor service (which routes
-- what waited for the name) and answer the queries waiting for it.
local function bind(name, handle)
	globalname[name] = handle
	asked[name] = nil
	skynet.redirect(harbor_service, handle, "harbor", 0, "N " .. name)
	local q = name_waiters[name]
	name_waiters[name] = nil
	wake(q, true, handle)
end

local function ask_master(name)
	if asked[name] or master_lost then
		return
	end
	asked[name] = true
	packet.write(master_fd, "Q", name)
end

local function connect_slave(id, address)
	if math.type(id) ~= "integer" or id < 1 or id > 255 or id == harbor_id or type(address) ~= "string" then
		log("ignored a bad connect request from the master (%s, %s)", tostring(id), tostring(address))
		return
	end
	skynet.send(harbor_service, "harbor", string.format("C %d %s", id, address))
end

local function startup_step()
	if starting and accept_left <= 0 and startup_co then
		local co = startup_co
		startup_co = nil
		skynet.wakeup(co)
	end
end

-- ------------------------------------------------------------ the master

local function master_down(why)
	if master_lost then
		return
	end
	master_lost = true
	log("the connection to the master is lost: %s", why)
	socket.close(master_fd)
	skynet.send(harbor_service, "harbor", "M")
	local waiters = name_waiters
	name_waiters = {}
	for name, q in pairs(waiters) do
		wake(q, false, "global name " .. name .. " is unknown and the master is down")
	end
	local m = master_waiters
	master_waiters = {}
	wake(m, true)
	accept_left = 0
	startup_step()
end

local MASTER = {}

function MASTER.C(id, address)
	if starting then
		pending_connect[#pending_connect + 1] = { id, address }
	else
		connect_slave(id, address)
	end
end

function MASTER.N(name, handle)
	if not valid_name(name) or math.type(handle) ~= "integer" or handle <= 0 or handle > 0xffffffff then
		log("ignored a bad name from the master (%s, %s)", tostring(name), tostring(handle))
		return
	end
	bind(name, handle)
end

function MASTER.D(id)
	if math.type(id) ~= "integer" then
		return
	end
	log("the master says harbor %d is down", id)
	if starting and not connected[id] then
		-- a slave that was to connect to us will not
		accept_left = accept_left - 1
		startup_step()
	end
	local q = link_waiters[id]
	link_waiters[id] = nil
	wake(q, true)
end

local function master_loop()
	while true do
		local kind, a, b = packet.read(master_fd)
		if kind == nil then
			master_down(a)
			return
		end
		local f = MASTER[kind]
		if f == nil then
			master_down("unknown packet kind " .. string.format("%q", kind))
			return
		end
		f(a, b)
	end
end

-- ------------------------------------------------- the harbor service

local REPORT = {}

function REPORT.U(id)
	connected[id] = true
	local q = connect_waiters[id]
	connect_waiters[id] = nil
	wake(q, true)
	if starting then
		accept_left = accept_left - 1
		startup_step()
	end
end

function REPORT.D(id)
	connected[id] = nil
	local q = link_waiters[id]
	link_waiters[id] = nil
	wake(q, true)
end

function REPORT.Q(name)
	local handle = globalname[name]
	if handle then
		bind(name, handle)
	else
		ask_master(name)
	end
end

skynet.register_protocol {
	name = "text",
	id = skynet.PTYPE_TEXT,
	pack = function(...) return ... end,
	unpack = skynet.tostring,
	dispatch = function(_, _, text)
		local kind, arg = text:match("^(%u) (.+)$")
		local f = kind and REPORT[kind]
		if f then
			f(kind == "Q" and arg or tonumber(arg))
		else
			log("unknown report from the harbor service: %q", text)
		end
	end,
}

-- ------------------------------------------------------ skynet.harbor API

local CMD = {}

function CMD.REGISTER(name, handle)
	if not valid_name(name) or math.type(handle) ~= "integer" then
		log("refused to register global name %s for %s (1..15 bytes, not starting with . or :)",
			tostring(name), tostring(handle))
		return
	end
	bind(name, handle)
	if not master_lost then
		packet.write(master_fd, "R", name, handle)
	end
end

function CMD.QUERYNAME(name)
	if type(name) ~= "string" then
		error("harbor.queryname: name must be a string")
	end
	if name:byte(1) == 46 then -- '.'
		skynet.retpack(skynet.localname(name))
		return
	end
	local handle = globalname[name]
	if handle then
		skynet.retpack(handle)
		return
	end
	if not valid_name(name) then
		error("harbor.queryname: bad global name " .. string.format("%q", name) .. " (1..15 bytes)")
	end
	if master_lost then
		error("global name " .. name .. " is unknown and the master is down")
	end
	local q = name_waiters[name]
	if q == nil then
		q = {}
		name_waiters[name] = q
	end
	q[#q + 1] = skynet.response()
	ask_master(name)
end

local function waiter(map, id)
	local q = map[id]
	if q == nil then
		q = {}
		map[id] = q
	end
	q[#q + 1] = skynet.response()
end

function CMD.LINK(id)
	if connected[id] then
		waiter(link_waiters, id)
	else
		skynet.ret()
	end
end

function CMD.CONNECT(id)
	if connected[id] or id == harbor_id then
		skynet.ret()
	else
		waiter(connect_waiters, id)
	end
end

function CMD.LINKMASTER()
	if master_lost then
		skynet.ret()
	else
		master_waiters[#master_waiters + 1] = skynet.response()
	end
end

skynet.start(function()
	harbor_id = math.tointeger(tonumber(skynet.getenv "harbor"))
	assert(harbor_id and harbor_id >= 1 and harbor_id <= 255, "cslave: config key `harbor` must be 1..255")
	local address = skynet.getenv "address"
	local master = skynet.getenv "master"
	assert(address, "cslave: config key `address` (host:port this node listens on) is not set")
	assert(master, "cslave: config key `master` (host:port of the master) is not set")
	skynet.dispatch("lua", function(_, _, command, ...)
		local f = CMD[command]
		if f == nil then
			error("cslave: unknown command " .. tostring(command))
		end
		f(...)
	end)
	harbor_service = assert(skynet.launch("harbor", harbor_id, skynet.self()), "cslave: launch harbor failed")

	local listen_fd = socket.listen(address)
	socket.start(listen_fd, function(fd, peer)
		if starting then
			skynet.send(harbor_service, "harbor", "A " .. fd .. " " .. tostring(peer))
		else
			socket.close(fd)
		end
	end)
	local ok, fd = pcall(socket.open, master)
	if not ok or not fd then
		error(string.format("cslave: cannot connect to the master at %s: %s", master, tostring(fd)))
	end
	master_fd = fd
	packet.write(master_fd, "H", harbor_id, address)
	local kind, n = packet.read(master_fd)
	if kind ~= "W" or math.type(n) ~= "integer" or n < 0 then
		error(string.format("cslave: the master at %s refused harbor %d (%s; is the id already taken?)",
			master, harbor_id, kind == nil and n or "bad reply " .. tostring(kind)))
	end
	log("harbor %d joined the master at %s; waiting for %d other harbor(s)", harbor_id, master, n)
	accept_left = accept_left + n -- links accepted before W were counted already
	skynet.fork(master_loop)
	if accept_left > 0 then
		startup_co = coroutine.running()
		skynet.wait(startup_co)
	end
	starting = false
	socket.close(listen_fd)
	for _, c in ipairs(pending_connect) do
		connect_slave(c[1], c[2])
	end
	pending_connect = nil
end)
