-- skynet.lua -- the core Lua API of a skynet service (api-skynet.md §1-§4).
--
-- Every snlua service loads this module.  It turns the raw messages the C
-- callback hands over into coroutines: each request runs its protocol's
-- dispatch function in a coroutine of its own (taken from a pool of
-- finished coroutines), and a coroutine that blocks (call, sleep, wait)
-- yields "SUSPEND" back to the scheduler here, which resumes it when the
-- reply, the timer or the wakeup for its session arrives.
--
-- Footprint.  Every service has its own Lua state and Debian's Lua cannot
-- share function prototypes between states, so this file holds only what
-- an ordinary service needs; every function costs a few hundred bytes per
-- service.  The rest is looked up lazily through the skynet table's
-- __index (see `lazy` at the end):
--   skynet/ext.lua        newservice, uniqueservice, queryservice, localname,
--                         setenv, time, stat, memlimit, term, rawcall, ...
--   skynet/introspect.lua task, uniqtask, killthread, trace*, tracecall
--   skynet/request.lua    request batches
--   skynet/exit.lua       the body of skynet.exit
--   skynet/debug.lua      the debug protocol, loaded by the first debug message
-- They reach the scheduler's state through `require "skynet.internal"` (S).
--
-- Errors never hang a caller, and say why: a request whose handler raises
-- is answered with PTYPE_ERROR whose payload is ":<callee>: <message>"
-- (first line, no traceback); the caller's skynet.call raises
-- "call to <addr> failed: <payload>", or "call to <addr> failed" for the
-- empty payload that upstream nodes and the C layer send.

local c = require "skynet.core"
local skynet_require = require "skynet.require"

local type, tostring, error, pcall = type, tostring, error, pcall
local format = string.format
local traceback = debug.traceback
local co_resume, co_yield, co_running = coroutine.resume, coroutine.yield, coroutine.running
local co_close = coroutine.close
local csend, ctrace = c.send, c.trace

local skynet = {
	PTYPE_TEXT = 0, PTYPE_RESPONSE = 1, PTYPE_MULTICAST = 2, PTYPE_CLIENT = 3,
	PTYPE_SYSTEM = 4, PTYPE_HARBOR = 5, PTYPE_SOCKET = 6, PTYPE_ERROR = 7,
	PTYPE_QUEUE = 8, PTYPE_DEBUG = 9, PTYPE_LUA = 10, PTYPE_SNAX = 11, PTYPE_TRACE = 12,
	-- plain aliases of skynet.core
	harbor = c.harbor, now = c.now, hpc = c.hpc,
	pack = c.pack, unpack = c.unpack, packstring = c.packstring,
	tostring = c.tostring, trash = c.trash, pcall = pcall,
}

local proto = {}
skynet._proto = proto

-- Scheduler state (S is shared with the lazily loaded modules).
local session_id_coroutine = {}      -- session -> waiting coroutine, or "BREAK" (drop the late reply)
local session_coroutine_id = {}      -- coroutine -> session of the request it must answer (0: a send)
local session_coroutine_address = {} -- coroutine -> source of that request
local session_coroutine_tracetag = {} -- coroutine -> trace tag, or false (tracing forced off)
local watching_session = {}          -- session of a call in flight -> address called
local error_text = {}                -- session -> text of the PTYPE_ERROR that failed it
local unresponse = {}                -- unused skynet.response closure -> requester address
local sleep_session = {}             -- token -> session it sleeps/waits on
local trace_source = {}              -- source -> trace tag announced by PTYPE_TRACE
local fork_queue = { h = 1, t = 0 }  -- coroutines to run after the current message
local wakeup_queue = { h = 1, t = 0 } -- tokens passed to skynet.wakeup
local error_queue = { h = 1, t = 0 } -- sessions to fail
local running_thread                 -- the coroutine the scheduler resumed last
local init_thread                    -- the coroutine running the start function
local self_handle

local S = {
	proto = proto,
	session_id_coroutine = session_id_coroutine,
	session_coroutine_id = session_coroutine_id,
	session_coroutine_address = session_coroutine_address,
	session_coroutine_tracetag = session_coroutine_tracetag,
	watching_session = watching_session,
	error_text = error_text,
	unresponse = unresponse,
	sleep_session = sleep_session,
	fork_queue = fork_queue,
	error_queue = error_queue,
	-- set below: running, set_running, init_thread, resume, send_session,
	-- timer_session, wait_reply, fail_source, error_payload.
	-- call_fail is in skynet/ext.lua.
	-- set by skynet.info_func: info_func.
	-- set by the lazy modules: trace_event, timer_hook,
	-- unknown_request, unknown_response.
}
package.loaded["skynet.internal"] = S

-- The lazy modules never block, so the plain require loads them (no need
-- for skynet.require's coroutine machinery).
local lua_require = skynet_require.lua_require
local function load_lazy(name)
	return package.loaded[name] or lua_require(name)
end

function skynet.self()
	local h = self_handle
	if h == nil then
		h = c.addresscommand "REG"
		self_handle = h
	end
	return h
end

function skynet.address(addr)
	if type(addr) == "number" then
		return format(":%08x", addr)
	end
	return tostring(addr)
end

-- tostring semantics, arguments joined by one space; no argument logs "nil"
skynet.error = c.error

function skynet.getenv(key)
	return (c.command("GETENV", key)) -- always one value, nil when unset
end

-- The payload of the PTYPE_ERROR this service sends: ":<self>: " and the
-- first line of the message (no traceback).
local function error_payload(err)
	local text = tostring(err)
	local nl = text:find("\n", 1, true)
	if nl then text = text:sub(1, nl - 1) end
	return format(":%08x: %s", skynet.self(), text)
end
S.error_payload = error_payload

local function trace_event(tag, text, level)
	if S.trace_event == nil then load_lazy "skynet.introspect" end
	return S.trace_event(tag, text, level and level + 1)
end

----------------------------------------------------------------------------
-- Sessions.  The C counter wraps from 0x7fffffff to 1.  Far from the wrap
-- sessions only grow and cannot collide with one still waiting; from
-- SESSION_DANGER on we allocate them one by one, skipping every value that
-- still has a waiter (wire-messages.md §4).

local SESSION_DANGER = 0x7fff0000
local careful = false

local function free_session()
	local s
	repeat s = c.genid() until session_id_coroutine[s] == nil
	return s
end

-- Sends with a new session: returns it, nil (no such service) or false (too large).
local function send_session(addr, id, msg, sz)
	if careful then
		return csend(addr, id, free_session(), msg, sz)
	end
	local s = csend(addr, id, nil, msg, sz)
	if s and s >= SESSION_DANGER then careful = true end
	return s
end
S.send_session = send_session

local function timer_session(ti)
	local t = math.tointeger(ti) or error(format("time must be an integer (centiseconds), got %s", tostring(ti)), 3)
	if careful then
		-- TIMEOUT takes the counter's next value: burn sessions until that one is free
		repeat
			local s = c.genid()
		until session_id_coroutine[s == 0x7fffffff and 1 or s + 1] == nil
	end
	local s = c.intcommand("TIMEOUT", t)
	if s >= SESSION_DANGER then careful = true end
	return s
end
S.timer_session = timer_session

function skynet.genid()
	if careful then return free_session() end
	local s = c.genid()
	if s >= SESSION_DANGER then careful = true end
	return s
end

----------------------------------------------------------------------------
-- Coroutines.

local coroutine_pool = setmetatable({}, { __mode = "v" })

local function resume(co, ...)
	running_thread = co
	return co_resume(co, ...)
end
S.resume = resume
function S.running() return running_thread end
function S.set_running(co) running_thread = co end
function S.init_thread() return init_thread end

-- A coroutine that runs f with the values of its first resume.  Finished
-- coroutines return to the pool, where they wait (having yielded
-- "SUSPEND") for their next function, then for its arguments.
local function co_new(f)
	local n = #coroutine_pool
	local co = coroutine_pool[n]
	if co then
		coroutine_pool[n] = nil
		local rt = running_thread
		co_resume(co, f)
		running_thread = rt
		return co
	end
	co = coroutine.create(function(...)
		f(...)
		while true do
			local session = session_coroutine_id[co]
			if session and session ~= 0 then
				local info = debug.getinfo(f, "S")
				c.error(format("Maybe forgot response session %s from %s : %s:%d", session,
					skynet.address(session_coroutine_address[co]), info.short_src, info.linedefined))
			end
			local tag = session_coroutine_tracetag[co]
			if tag ~= nil then
				if tag then ctrace(tag, "end") end
				session_coroutine_tracetag[co] = nil
			end
			session_coroutine_id[co] = nil
			session_coroutine_address[co] = nil
			f = nil
			coroutine_pool[#coroutine_pool + 1] = co
			f = co_yield "SUSPEND"
			f(co_yield())
		end
	end)
	return co
end

local suspend

local function dispatch_error_queue()
	local q = error_queue
	local h = q.h
	if h > q.t then
		q.h, q.t = 1, 0
		return
	end
	local session = q[h]
	q[h] = nil
	q.h = h + 1
	local co = session_id_coroutine[session]
	if type(co) == "thread" then
		session_id_coroutine[session] = nil
		return suspend(co, resume(co, false, nil, nil, session))
	end
	return dispatch_error_queue()
end

local function dispatch_wakeup()
	local q = wakeup_queue
	while q.h <= q.t do
		local h = q.h
		local token = q[h]
		q[h] = nil
		q.h = h + 1
		local session = sleep_session[token]
		local co = session and session_id_coroutine[session]
		if type(co) == "thread" then
			local tag = session_coroutine_tracetag[co]
			if tag then ctrace(tag, "resume") end
			session_id_coroutine[session] = "BREAK"
			return suspend(co, resume(co, false, "BREAK", nil, session))
		end
	end
	q.h, q.t = 1, 0
	return dispatch_error_queue()
end

-- Handles what resuming co returned.
function suspend(co, ok, command)
	if not ok then
		local session = session_coroutine_id[co]
		if session then -- co was handling a request
			if session ~= 0 then
				local tag = session_coroutine_tracetag[co]
				if tag then ctrace(tag, "error") end
				csend(session_coroutine_address[co], 7, session, error_payload(command))
			end
			session_coroutine_id[co] = nil
		end
		session_coroutine_address[co] = nil
		session_coroutine_tracetag[co] = nil
		skynet.fork(function() end) -- queued wakeups and errors still get dispatched
		local tb = traceback(co, tostring(command))
		co_close(co)
		error(tb, 0)
	end
	if command == "SUSPEND" then
		return dispatch_wakeup()
	elseif command == "QUIT" or command == nil then
		return -- the service exited / a plain coroutine.yield(): stays suspended
	elseif command == "USER" then
		error("Call skynet.coroutine.yield out of skynet.coroutine.resume\n" .. traceback(co), 0)
	end
	error("Unknown command : " .. tostring(command) .. "\n" .. traceback(co), 0)
end

----------------------------------------------------------------------------
-- Timers, sleep, wait, fork.

function skynet.timeout(ti, func)
	local session = timer_session(ti)
	local co = co_new(func)
	session_id_coroutine[session] = co
	if S.timer_hook then S.timer_hook(co, session) end
	return co
end

local function suspend_sleep(session, token)
	if sleep_session[token] ~= nil then
		error("token duplicative", 3)
	end
	local rt = running_thread
	local tag = session_coroutine_tracetag[rt]
	if tag then trace_event(tag, "sleep", 3) end
	session_id_coroutine[session] = rt
	sleep_session[token] = session
	return co_yield "SUSPEND"
end

-- Returns nothing when the time passed, "BREAK" when woken by wakeup(token).
function skynet.sleep(ti, token)
	local session = timer_session(ti)
	token = token or co_running()
	local ok, ret = suspend_sleep(session, token)
	sleep_session[token] = nil
	if not ok then
		return ret
	end
end

function skynet.yield()
	return skynet.sleep(0)
end

function skynet.wait(token)
	local session = skynet.genid()
	token = token or co_running()
	suspend_sleep(session, token)
	sleep_session[token] = nil
	session_id_coroutine[session] = nil
end

local function push(q, v)
	local t = q.t + 1
	q.t = t
	q[t] = v
end

function skynet.wakeup(token)
	if sleep_session[token] then
		push(wakeup_queue, token)
		return true
	end
end

function skynet.fork(func, ...)
	local co
	if select("#", ...) == 0 then
		co = co_new(func)
	else
		local args = table.pack(...)
		co = co_new(function() func(table.unpack(args, 1, args.n)) end)
	end
	push(fork_queue, co)
	return co
end

----------------------------------------------------------------------------
-- Protocols and dispatch.

function skynet.register_protocol(class)
	local name, id = class.name, class.id
	assert(type(name) == "string" and math.tointeger(id) and id >= 0 and id <= 255,
		"register_protocol needs a string name and an id in 0..255")
	assert(proto[name] == nil and proto[id] == nil, "protocol already registered")
	proto[name] = class
	proto[id] = class
end

function skynet.dispatch(typename, func)
	local p = proto[typename]
	if func then
		local old = p.dispatch
		p.dispatch = func
		return old
	end
	return p and p.dispatch
end

-- Starts a request coroutine with the unpacked payload; if unpacking
-- failed, the requester gets the error instead of waiting forever.
local function start_request(co, session, source, ok, ...)
	if ok then
		return suspend(co, resume(co, session, source, ...))
	end
	session_coroutine_id[co] = nil
	session_coroutine_address[co] = nil
	session_coroutine_tracetag[co] = nil
	local err = "unpack error: " .. tostring((...))
	if session ~= 0 then
		csend(source, 7, session, error_payload(err))
	end
	error(err, 0)
end

local function raw_dispatch_message(prototype, msg, sz, session, source)
	if prototype == 1 then -- PTYPE_RESPONSE
		local co = session_id_coroutine[session]
		if co == "BREAK" then
			session_id_coroutine[session] = nil
		elseif co == nil then
			if S.unknown_response == nil then load_lazy "skynet.ext" end
			S.unknown_response(session, source, msg, sz)
		else
			local tag = session_coroutine_tracetag[co]
			if tag then ctrace(tag, "resume") end
			session_id_coroutine[session] = nil
			return suspend(co, resume(co, true, msg, sz, session))
		end
		return
	end
	local p = proto[prototype]
	local f = p and p.dispatch
	if f == nil then
		if prototype == 12 then -- PTYPE_TRACE: tags the next request from source
			trace_source[source] = c.tostring(msg, sz)
		elseif session ~= 0 then
			csend(source, 7, session, error_payload(format("no dispatch for protocol %s", p and p.name or prototype)))
		else
			if S.unknown_request == nil then load_lazy "skynet.ext" end
			S.unknown_request(session, source, msg, sz, prototype)
		end
		return
	end
	local co = co_new(f)
	session_coroutine_id[co] = session
	session_coroutine_address[co] = source
	local traceflag = p.trace
	if traceflag == false then
		trace_source[source] = nil
		session_coroutine_tracetag[co] = false
	else
		local tag = trace_source[source]
		if tag then
			trace_source[source] = nil
			ctrace(tag, "request")
			session_coroutine_tracetag[co] = tag
		elseif traceflag then
			running_thread = co
			skynet.trace()
		end
	end
	return start_request(co, session, source, pcall(p.unpack, msg, sz))
end

-- The message callback: dispatch, then run the forked coroutines.
function skynet.dispatch_message(...)
	local ok, err = pcall(raw_dispatch_message, ...)
	local q = fork_queue
	while q.h <= q.t do
		local h = q.h
		local co = q[h]
		q[h] = nil
		q.h = h + 1
		local fok, ferr = pcall(suspend, co, resume(co))
		if not fok then
			err = ok and tostring(ferr) or (tostring(err) .. "\n" .. tostring(ferr))
			ok = false
		end
	end
	q.h, q.t = 1, 0
	if not ok then
		error(err, 0)
	end
end

----------------------------------------------------------------------------
-- Sending and calling.

function skynet.send(addr, typename, ...)
	local p = proto[typename]
	return csend(addr, p.id, 0, p.pack(...))
end

-- Suspends the running skynet thread until the reply to session.
-- Returns true, msg, sz, or false when the call failed.
local function wait_reply(addr, session)
	watching_session[session] = addr
	session_id_coroutine[session] = running_thread
	local ok, msg, sz = co_yield "SUSPEND"
	watching_session[session] = nil
	return ok, msg, sz
end
S.wait_reply = wait_reply


function skynet.call(addr, typename, ...)
	local tag = session_coroutine_tracetag[running_thread]
	if tag then
		trace_event(tag, "call", 2)
		csend(addr, 12, 0, tag)
	end
	local p = proto[typename] or error("unknown protocol " .. tostring(typename), 2)
	local session = send_session(addr, p.id, p.pack(...))
	if session then
		local ok, msg, sz = wait_reply(addr, session)
		if ok then
			return p.unpack(msg, sz)
		end
	end
	-- not a tail call: call_fail raises at the level of our caller
	local fail = S.call_fail or load_lazy "skynet.ext" and S.call_fail
	fail(addr, session)
end

----------------------------------------------------------------------------
-- Replying.

function skynet.ret(msg, sz)
	msg = msg or ""
	local co = running_thread
	local tag = session_coroutine_tracetag[co]
	if tag then ctrace(tag, "response") end
	local session = session_coroutine_id[co]
	if session == nil then
		error("No session", 2)
	end
	session_coroutine_id[co] = nil
	if session == 0 then
		if sz ~= nil then c.trash(msg, sz) end
		return false -- the request was a send
	end
	local addr = session_coroutine_address[co]
	local ret = csend(addr, 1, session, msg, sz)
	if ret then
		return true
	elseif ret == false then -- too large: the caller gets an error instead
		csend(addr, 7, session, error_payload("response too large"))
	end
	return false
end

function skynet.retpack(...)
	return skynet.ret(c.pack(...))
end

function skynet.ignoreret()
	session_coroutine_id[running_thread] = nil
end

function skynet.context()
	local co = running_thread
	return session_coroutine_id[co], session_coroutine_address[co]
end

local function noresponse() end

-- Detaches the reply: resp(true, ...) replies pack(...); resp(false [, why])
-- replies an error (why becomes its text); resp("TEST") tells whether resp
-- may still be used.
function skynet.response(pack)
	pack = pack or c.pack
	local co = running_thread
	local session = session_coroutine_id[co]
	if session == nil then
		error("no session", 2)
	end
	session_coroutine_id[co] = nil
	if session == 0 then
		return noresponse
	end
	local addr = session_coroutine_address[co]
	local tag = session_coroutine_tracetag[co]
	local function response(ok, ...)
		if ok == "TEST" then
			return unresponse[response] ~= nil
		end
		if not pack then
			error("Can't response more than once", 2)
		end
		local ret = false
		if unresponse[response] then
			unresponse[response] = nil
			if tag then ctrace(tag, "response") end
			if ok then
				local packed, msg, sz = pcall(pack, ...)
				if packed then
					ret = csend(addr, 1, session, msg, sz)
				end
				if not packed or ret == false then -- the caller must not wait forever
					csend(addr, 7, session, error_payload(packed and "response too large" or msg))
					if not packed then error(msg, 2) end
				end
			else
				local why = ...
				ret = csend(addr, 7, session, why ~= nil and tostring(why) or "")
			end
			ret = ret ~= nil
		end
		pack = nil
		return ret
	end
	unresponse[response] = addr
	return response
end

----------------------------------------------------------------------------
-- The error protocol: PTYPE_ERROR with session s fails the call waiting on
-- s; with session 0 it means "the source is dead": every call waiting on it
-- fails and the responses owed to it become invalid.

local function push_error(session, text)
	push(error_queue, session)
	error_text[session] = text
end

local function fail_source(source, text)
	for resp, addr in pairs(unresponse) do
		if addr == source then unresponse[resp] = nil end
	end
	for session, addr in pairs(watching_session) do
		if addr == source then push_error(session, text) end
	end
end
S.fail_source = fail_source

local function error_dispatch(session, source, msg, sz)
	session_coroutine_id[running_thread] = nil -- never answer an error
	local text = sz > 0 and c.tostring(msg, sz) or nil
	if session == 0 then
		fail_source(source, text)
	elseif watching_session[session] then
		push_error(session, text)
	end
end

----------------------------------------------------------------------------
-- Exit.

-- The exit sequence is in skynet/exit.lua (loaded when needed); if even
-- that load fails (say, at the memory limit) the service still retires.
function skynet.exit()
	local ok, exit = pcall(load_lazy, "skynet.exit")
	if ok then
		return exit()
	end
	c.command "EXIT"
	local _, main = co_running()
	if not main then
		co_yield "QUIT"
	end
end

-- f(...) answers the debug INFO command.
function skynet.info_func(f)
	S.info_func = f
end

----------------------------------------------------------------------------
-- Start.

skynet.init = skynet_require.init

local function init_main(start)
	skynet_require.init_all()
	start()
end

-- Runs the init functions, then start; reports LAUNCHOK to .launcher.  On
-- error: logs "init service failed: ...", sends .launcher ERROR with the
-- message (the newservice caller's error then says why) and exits.
function skynet.init_service(start)
	local ok, err = xpcall(init_main, traceback, start)
	if ok then
		skynet.send(".launcher", "lua", "LAUNCHOK")
	else
		err = tostring(err)
		c.error("init service failed: " .. err)
		skynet.send(".launcher", "lua", "ERROR", err:match "[^\n]*")
		skynet.exit()
	end
end

function skynet.start(start_func)
	c.callback(skynet.dispatch_message)
	init_thread = skynet.timeout(0, function()
		skynet.init_service(start_func)
		init_thread = nil
	end)
end

----------------------------------------------------------------------------
-- Built-in protocols, lazy functions.

skynet.register_protocol { name = "lua", id = 10, pack = c.pack, unpack = c.unpack }
skynet.register_protocol { name = "response", id = 1 }
skynet.register_protocol {
	name = "error", id = 7,
	unpack = function(...) return ... end,
	dispatch = error_dispatch,
}
skynet.register_protocol {
	name = "debug", id = 9, pack = c.pack, unpack = c.unpack,
	dispatch = function(...) -- the debug commands are loaded by the first debug message
		return load_lazy("skynet.debug").dispatch(...)
	end,
}

-- Lazy names, one string per module (cheaper than a table of 30 keys).
local lazy_names = {
	["skynet.ext"] = " newservice uniqueservice queryservice localname setenv starttime time stat mqlen "
		.. "endless memlimit term rawcall rawsend redirect dispatch_unknown_request "
		.. "dispatch_unknown_response cache ",
	["skynet.introspect"] = " task uniqtask killthread trace_timeout trace tracetag tracelog traceproto tracecall ",
	["skynet.request"] = " request ",
}

setmetatable(skynet, {
	__index = function(t, k)
		if type(k) == "string" then
			local key = " " .. k .. " "
			for m, names in pairs(lazy_names) do
				if names:find(key, 1, true) then
					load_lazy(m)
					return rawget(t, k)
				end
			end
		end
	end,
})

return skynet
