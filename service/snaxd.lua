-- snaxd -- the host of one snax service.
-- Launched as `snaxd <name>`: loads the service file <name> (config key
-- `snax`, or the loader file named by `snax_loader`) with this service's
-- globals as its environment, then serves PTYPE_SNAX messages
-- `skynet.pack(id, args...)`: id 1 init, 2 exit, 3 hotfix, 4 profile, 5+
-- the file's accept/response methods.  Every accept/response run is timed
-- (CPU time of its coroutine) into a per-name profile table, which the
-- debug INFO command returns once the service is initialised.
local skynet = require "skynet"
local interface = require "snax.interface"
local profile = require "skynet.profile"
local snax = require "skynet.snax"

local name = assert((...), "snaxd: launch as `snaxd <name>`")
local loader
do
	local path = skynet.getenv "snax_loader"
	if path then
		loader = assert(dofile(path), "snax_loader " .. path .. " returned no loader")
	end
end

local methods, pattern = interface(name, _ENV, loader)
SERVICE_NAME = name
SERVICE_PATH = (pattern:match "^([^?]*)" or "") .. name .. "/"
package.path = SERVICE_PATH .. "?.lua;" .. package.path

local profile_table = {} -- method name -> { count, time }
local traceback = debug.traceback
local pstart, pstop = profile.start, profile.stop
local retpack = skynet.retpack

-- Ends the profile of the method `mname` just run (errors included, as
-- upstream counts them) and hands back its xpcall results, minus the ok.
local function finish(mname, ok, ...)
	local t = pstop()
	local p = profile_table[mname]
	if p then
		p.count = p.count + 1
		p.time = p.time + t
	else
		profile_table[mname] = { count = 1, time = t }
	end
	if not ok then
		error((...), 0)
	end
	return ...
end

local initialised = false

local function nothing() end

local function system(m, ...)
	local hook = m[3]
	if hook == "hotfix" then
		local hotfix = require "snax.hotfix"
		retpack(hotfix(methods, ...))
	elseif hook == "profile" then
		retpack(profile_table)
	elseif hook == "init" then
		if initialised then
			error("Already init", 0)
		end
		;(m[4] or nothing)(...)
		skynet.ret()
		skynet.info_func(function()
			return profile_table
		end)
		initialised = true
	else -- exit
		if not initialised then
			error("Never init", 0)
		end
		;(m[4] or nothing)(...)
		skynet.ret()
		initialised = false
		skynet.exit()
	end
end

-- The hot path: no function call more than the method, its xpcall and
-- the profile needs (m[4] is read each time: a hot fix replaces it).
local function dispatch(_, _, id, ...)
	local m = methods[id]
	if m == nil then
		error(string.format("snax %s: no method with id %s", name, tostring(id)), 0)
	end
	local group = m[2]
	if group == "system" then
		return system(m, ...)
	end
	if not initialised then
		error("Init first", 0)
	end
	pstart()
	if group == "response" then
		retpack(finish(m[3], xpcall(m[4], traceback, ...)))
	else
		finish(m[3], xpcall(m[4], traceback, ...))
	end
end

skynet.start(function()
	skynet.dispatch("snax", dispatch)
	-- cluster.snax: the remote clusteragent delivers requests as "lua".
	function snax.enablecluster()
		skynet.dispatch("lua", dispatch)
	end
end)
