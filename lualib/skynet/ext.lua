-- skynet/ext.lua -- the less common part of the skynet API, loaded the first
-- time one of its names is looked up on the skynet table (the lazy __index
-- of lualib-src/lua-sched.c): newservice, uniqueservice, queryservice, localname,
-- setenv, starttime, time, stat, mqlen, endless, memlimit, term, rawcall,
-- rawsend, redirect, dispatch_unknown_request/response, cache; and
-- S.call_fail, the error of a failed (or timed out) call.

local skynet = require "skynet"
local c = require "skynet.core"
local S = require "skynet.internal"

local proto = S.proto
local format = string.format

-- The error level (as seen from call_fail) of the first frame from
-- `level` on that has line information: a call made through a framework
-- wrapper (cluster.call, cached without debug info) then names the user's
-- line rather than nothing.
local function user_level(level)
	local getinfo = debug.getinfo
	local l = level + 1 -- getinfo counts this function too
	while true do
		local info = getinfo(l, "l")
		if info == nil then
			return level
		elseif info.currentline > 0 then
			return l - 1
		end
		l = l + 1
	end
end

-- Raises the error of a failed call or newservice at the caller of the
-- function that called call_fail (level 3), or further out past frames
-- without line information.  session: nil = no such destination, false =
-- message too large, else the failed session (its PTYPE_ERROR text, if
-- any, is kept until S.settle takes it; a timeout in cs when its deadline
-- passed).
function S.call_fail(addr, session, what)
	what = what or ("call to " .. skynet.address(addr))
	local level = user_level(3)
	if session == nil then
		error("call to invalid address " .. skynet.address(addr), level)
	elseif session == false then
		error(what .. " failed: message too large", level)
	end
	local text = S.settle(session)
	if math.type(text) == "integer" then -- the call's deadline passed
		local name = S.callee_name and S.callee_name[addr] -- set by skynet.cluster for its senders
		if name then
			what = "call to " .. name
		end
		error(format("%s timed out after %d cs", what, text), level)
	elseif text then
		error(what .. " failed: " .. text, level)
	end
	error(what .. " failed", level)
end

-- newservice: asks .launcher to start `snlua name ...` and waits until the
-- new service's start function returned.  On failure the launcher's error
-- text (the loader's message listing the paths searched, or the start
-- function's error) ends up in the raised message.
function skynet.newservice(name, ...)
	local session = S.send_session(".launcher", skynet.PTYPE_LUA, c.pack("LAUNCH", "snlua", name, ...))
	if session then
		-- no deadline: a service's start may take as long as it needs
		local ok, msg, sz = S.wait_reply(".launcher", session, 0)
		if ok then
			return c.unpack(msg, sz)
		end
	end
	S.call_fail(".launcher", session, "newservice " .. tostring(name))
end

-- (no deadline, whatever call_timeout says: these wait for a launch)
local function service_mgr(cmd, global, ...)
	local addr, err
	if global == true then
		addr, err = skynet.call_timeout(0, ".service", "lua", "G" .. cmd, ...)
	else
		addr, err = skynet.call_timeout(0, ".service", "lua", cmd, global, ...)
	end
	if addr == nil then
		error(err, 3)
	end
	return addr
end

-- One instance per node of service `name` (global == true: per network).
function skynet.uniqueservice(global, ...)
	return service_mgr("LAUNCH", global, ...)
end

function skynet.queryservice(global, ...)
	return service_mgr("QUERY", global, ...)
end

function skynet.localname(name)
	return (c.addresscommand("QUERY", name))
end

function skynet.setenv(key, value)
	if c.command("GETENV", key) ~= nil then
		error("Can't setenv exist key : " .. tostring(key), 2)
	end
	c.command("SETENV", key .. " " .. value)
end

local starttime
function skynet.starttime()
	if not starttime then
		starttime = c.intcommand "STARTTIME"
	end
	return starttime
end

function skynet.time()
	return c.now() / 100 + (starttime or skynet.starttime())
end

function skynet.stat(what)
	return c.intcommand("STAT", what) or 0
end

function skynet.mqlen()
	return c.intcommand("STAT", "mqlen")
end

function skynet.endless()
	return c.intcommand("STAT", "endless") == 1
end

-- Call once, from the main chunk: snlua applies the limit when it returns.
function skynet.memlimit(bytes)
	debug.getregistry().memlimit = bytes
	skynet.memlimit = nil -- set once
end

-- Treats addr as dead: every call waiting on it fails.
function skynet.term(addr)
	S.fail_source(addr, format("%s terminated", skynet.address(addr)))
end

function skynet.rawsend(addr, typename, msg, sz)
	return c.send(addr, proto[typename].id, 0, msg, sz)
end

function skynet.redirect(dest, source, typename, session, msg, sz)
	return c.redirect(dest, source, proto[typename].id, session, msg, sz)
end

-- Sends a packed request and waits for the reply.  Returns the session
-- (nil/false when the send failed) and, after a reply, ok, msg, sz.  The
-- public caller raises with S.call_fail, which reports at its caller's level.
function S.raw_request(addr, typename, msg, sz)
	local p = proto[typename] or error("unknown protocol " .. tostring(typename), 3)
	local session = S.send_session(addr, p.id, msg, sz)
	if session then
		return session, S.wait_reply(addr, session)
	end
	return session
end

-- call with a packed request; returns the raw reply msg, sz.
function skynet.rawcall(addr, typename, msg, sz)
	local tag = S.session_coroutine_tracetag[S.running()]
	if tag then
		S.trace_event(tag, "call", 2)
		c.send(addr, skynet.PTYPE_TRACE, 0, tag)
	end
	local session, ok, m, s = S.raw_request(addr, typename, msg, sz)
	if ok then
		return m, s
	end
	S.call_fail(addr, session)
end

function S.unknown_request(session, address, msg, sz, prototype)
	c.error(format("Unknown request (%s): %s", prototype, c.tostring(msg, sz)))
	error(format("Unknown session : %d from %x", session, address))
end

function S.unknown_response(session, address, msg, sz)
	c.error(format("Response message : %s", c.tostring(msg, sz)))
	error(format("Unknown session : %d from %x", session, address))
end

function skynet.dispatch_unknown_request(f)
	local old = S.unknown_request
	S.unknown_request = f
	return old
end

function skynet.dispatch_unknown_response(f)
	local old = S.unknown_response
	S.unknown_response = f
	return old
end

skynet.cache = require "skynet.codecache"

return {} -- the functions above live in the skynet table
