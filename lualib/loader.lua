-- loader.lua -- the `lualoader` every snlua service runs first.  Its one
-- argument is the launch string "name arg1 arg2 ...".  It finds name.lua
-- along LUA_SERVICE, sets SERVICE_NAME / SERVICE_PATH and the package
-- paths, runs the preload file, makes skynet.require the global `require`,
-- and runs the service's main chunk with the remaining words as `...`
-- (strings).
--
-- Failures.  snlua logs whatever this chunk raises as
-- "lua loader error : <msg>" and tells .launcher with the text message
-- "ERROR".  That text cannot say why, so before raising we send .launcher
-- a Lua "ERROR" message carrying the reason (the not-found message lists
-- every path tried); the launcher passes it to the newservice caller,
-- whose error then names the service and the reason.  Both messages go
-- from this service to .launcher, so they arrive in that order and the
-- launcher ignores the second one.

local args = {}
for word in string.gmatch((...) or "", "%S+") do
	args[#args + 1] = word
end

local name = args[1] or ""
SERVICE_NAME = name

package.path = LUA_PATH
package.cpath = LUA_CPATH

-- skynet.PTYPE_LUA: the loader runs before the skynet module is loaded.
local PTYPE_LUA = 10

local function report(err)
	local ok, c = pcall(require, "skynet.core")
	if ok then
		pcall(function()
			c.send(".launcher", PTYPE_LUA, 0, c.pack("ERROR", tostring(err)))
		end)
	end
end

local function fail(err)
	report(err)
	error(err, 0)
end

local main, pattern
do
	local errs = {}
	local escaped = name:gsub("%%", "%%%%")
	for pat in string.gmatch(LUA_SERVICE or "", "[^;]+") do
		local filename = pat:gsub("%?", escaped)
		local f, msg = loadfile(filename)
		if f then
			main, pattern = f, pat
			break
		end
		errs[#errs + 1] = msg
	end
	if not main then
		if #errs == 0 then
			errs[1] = "no luaservice pattern to search service '" .. name .. "'"
		end
		fail(table.concat(errs, "\n"))
	end
end

LUA_SERVICE = nil
LUA_PATH = nil
LUA_CPATH = nil

do
	-- ./test/?/init.lua: the service has a directory of its own
	local dir = pattern:match "^(.*/)[^/?]+$"
	if dir then
		dir = dir:gsub("%?", (name:gsub("%%", "%%%%")))
		package.path = dir .. "?.lua;" .. package.path
		SERVICE_PATH = dir
	else
		SERVICE_PATH = pattern:match "^(.*/)" or "./"
	end
end

local function run(f, ...)
	local ok, err = xpcall(f, function(e)
		return { e, debug.traceback(tostring(e), 2) }
	end, ...)
	if not ok then
		report(err[1])
		error(err[2], 0)
	end
end

if LUA_PRELOAD then
	local preload = LUA_PRELOAD
	LUA_PRELOAD = nil
	local f, err = loadfile(preload)
	if not f then
		fail(err)
	end
	run(f, table.unpack(args))
end

require = (require "skynet.require").require

run(main, select(2, table.unpack(args)))
