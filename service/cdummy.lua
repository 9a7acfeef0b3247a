-- cdummy.lua -- `.cslave` of a single-node (harbor = 0) node.  Starts the
-- C `harbor` service (args "0 <self>") and keeps the global name table:
--   REGISTER name handle  -- tells the harbor service "N name" from handle
--   QUERYNAME name        -- address of a global name (waits until it is
--                            registered); ".name" answered locally
--   LINK id               -- returns at once (no other harbor)
--   CONNECT id            -- logs an error and never returns
--   LINKMASTER            -- never returns (there is no master to lose)

local skynet = require "skynet"
require "skynet.manager"

local globalname = {} -- name -> handle
local queryname = {}  -- name -> { response closures waiting for it }
local pending = {}    -- responses that never get an answer
local harbor_service

skynet.register_protocol {
	name = "harbor",
	id = skynet.PTYPE_HARBOR,
	pack = function(...) return ... end,
	unpack = skynet.tostring,
}

skynet.register_protocol {
	name = "text",
	id = skynet.PTYPE_TEXT,
	pack = function(...) return ... end,
	unpack = skynet.tostring,
	-- the harbor service asks "Q name" for unknown names: nothing to do in
	-- single-node mode, the name arrives with REGISTER
	dispatch = function() end,
}

local CMD = {}

function CMD.REGISTER(name, handle)
	if globalname[name] ~= nil then
		skynet.error(string.format("global name %s is already registered by %s", name, skynet.address(globalname[name])))
		return
	end
	globalname[name] = handle
	local q = queryname[name]
	if q then
		queryname[name] = nil
		for _, resp in ipairs(q) do
			resp(true, handle)
		end
	end
	skynet.redirect(harbor_service, handle, "harbor", 0, "N " .. name)
end

function CMD.QUERYNAME(name)
	if name:byte(1) == 46 then -- '.'
		skynet.retpack(skynet.localname(name))
		return
	end
	local handle = globalname[name]
	if handle then
		skynet.retpack(handle)
		return
	end
	local q = queryname[name]
	if q == nil then
		q = {}
		queryname[name] = q
	end
	q[#q + 1] = skynet.response()
end

function CMD.LINK(id)
	skynet.ret()
end

function CMD.CONNECT(id)
	skynet.error("Can't connect to other harbor in single node mode")
	pending[#pending + 1] = skynet.response()
end

function CMD.LINKMASTER()
	pending[#pending + 1] = skynet.response()
end

skynet.start(function()
	local harbor_id = tonumber(skynet.getenv "harbor" or 0)
	assert(harbor_id == 0, "cdummy runs only with harbor = 0")
	skynet.dispatch("lua", function(session, source, command, ...)
		local f = CMD[command]
		if f == nil then
			error("cdummy: unknown command " .. tostring(command))
		end
		f(...)
	end)
	harbor_service = assert(skynet.launch("harbor", harbor_id, skynet.self()), "launch harbor failed")
end)
