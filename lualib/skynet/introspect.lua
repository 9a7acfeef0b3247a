-- skynet/introspect.lua -- looking at and tracing the coroutines of a
-- service: task, uniqtask, killthread, trace_timeout, trace, tracetag,
-- tracelog, traceproto, tracecall.  Loaded on first use (lualib/skynet.lua).

local skynet = require "skynet"
local c = require "skynet.core"
local S = require "skynet.internal"

local type, tostring, pairs = type, tostring, pairs
local format = string.format
local traceback = debug.traceback
local getinfo = debug.getinfo

local proto = S.proto
local session_id_coroutine = S.session_id_coroutine -- read-only
local session_coroutine_tracetag = S.session_coroutine_tracetag

----------------------------------------------------------------------------
-- Tracing.  A traced request logs <TRACE tag> lines: trace, call, sleep,
-- resume, request, response, end, error.

-- "src:line src:line src:line": up to three frames of coroutine co from
-- `level`, or (co nil) of the current thread from getinfo level `level`
-- counted in frames' caller.
local function frames(co, level)
	local out = {}
	for i = 0, 2 do
		local info
		if co then
			info = getinfo(co, level + i, "Sl")
		else
			info = getinfo(level + 1 + i, "Sl")
		end
		if info == nil then break end
		out[#out + 1] = info.short_src .. ":" .. tostring(info.currentline)
	end
	return table.concat(out, " ")
end

-- level: getinfo level seen from trace_event (1 = trace_event itself).
function S.trace_event(tag, text, level)
	if level then
		text = text .. " : " .. frames(nil, level)
	end
	c.trace(tag, text)
end

local traceid = 0

-- Starts tracing the request handled by the running coroutine.
function skynet.trace(info)
	local co = S.running()
	local old = session_coroutine_tracetag[co]
	skynet.error("TRACE", old)
	if old == false then
		return -- tracing forced off for this protocol
	end
	traceid = traceid + 1
	local tag = format(":%08x-%d", skynet.self(), traceid)
	session_coroutine_tracetag[co] = tag
	if info then
		c.trace(tag, "trace " .. tostring(info))
	else
		c.trace(tag, "trace")
	end
end

function skynet.tracetag()
	return session_coroutine_tracetag[S.running()]
end

-- tracelog(tag, text [, co] [, level]): with co or level, appends up to
-- three source:line frames (level 1 = the caller of tracelog).
function skynet.tracelog(tag, text, co, level)
	if type(co) == "number" then
		co, level = nil, co
	end
	if co then
		text = text .. " : " .. frames(co, level or 0)
	elseif level then
		text = text .. " : " .. frames(nil, level + 1)
	end
	c.trace(tag, text)
end

-- true: trace every request of this protocol; false: never; nil: on demand.
function skynet.traceproto(typename, flag)
	local p = proto[typename] or error("unknown protocol " .. tostring(typename), 2)
	p.trace = flag
end

-- rawcall that tags the request with `tag`.
function skynet.tracecall(tag, addr, typename, msg, sz)
	require "skynet.ext" -- S.raw_request, S.call_fail
	c.trace(tag, "tracecall begin")
	c.send(addr, skynet.PTYPE_TRACE, 0, tag)
	local session, ok, m, s = S.raw_request(addr, typename, msg, sz)
	if session then
		c.trace(tag, "tracecall end")
	end
	if ok then
		return m, s
	end
	S.call_fail(addr, session)
end

----------------------------------------------------------------------------
-- Suspended coroutines.

local timer_origin -- co -> { session, where the timer was created }

function skynet.trace_timeout(on)
	if on then
		timer_origin = timer_origin or setmetatable({}, { __mode = "k" })
		S.timer_hook = function(co, session)
			timer_origin[co] = { session, traceback("timer created at", 3) }
		end
	else
		S.timer_hook = nil
		timer_origin = nil
	end
end

local function co_traceback(co, session)
	local o = timer_origin and timer_origin[co]
	if o and o[1] == session then
		return o[2]
	end
	return traceback(co)
end

-- task() -> count; task(t) fills t; task(session) -> traceback;
-- task(co) -> its session; task("init") -> traceback of the start function.
function skynet.task(ret)
	if ret == nil then
		local n = 0
		for _, co in pairs(session_id_coroutine) do
			if type(co) == "thread" then n = n + 1 end
		end
		return n
	end
	if ret == "init" then
		local co = S.init_thread()
		return co and traceback(co) or nil
	end
	local t = type(ret)
	if t == "table" then
		for session, co in pairs(session_id_coroutine) do
			local key = format("%s session: %d", tostring(co), session)
			ret[key] = type(co) == "thread" and co_traceback(co, session) or tostring(co)
		end
		return ret
	elseif t == "number" then
		local co = session_id_coroutine[ret]
		if type(co) == "thread" then
			return co_traceback(co, ret)
		end
		return "No session"
	elseif t == "thread" then
		for session, co in pairs(session_id_coroutine) do
			if co == ret then return session end
		end
	end
end

-- "<count>\tsessions:[s1,...]\n" -> traceback, grouping identical stacks.
function skynet.uniqtask()
	local stacks = {}
	for session, co in pairs(session_id_coroutine) do
		if type(co) == "thread" then
			local stack = traceback(co)
			local info = stacks[stack]
			if info == nil then
				info = { count = 0, sessions = {} }
				stacks[stack] = info
			end
			info.count = info.count + 1
			if info.count < 10 then
				info.sessions[#info.sessions + 1] = session
			end
		end
	end
	local ret = {}
	for stack, info in pairs(stacks) do
		local list = table.concat(info.sessions, ",")
		if info.count > 10 then list = list .. "..." end
		ret[format("%d\tsessions:[%s]\n", info.count, list)] = stack
	end
	return ret
end

local function matches(v, co)
	return v == co or (type(co) == "string" and tostring(v):find(co, 1, true))
end

-- Cancels a suspended coroutine or a queued fork (a string matches
-- tostring(co)).  The request it was handling is answered with an error.
-- Returns the coroutine, or nil if not found.
function skynet.killthread(co)
	local session
	for s, v in pairs(session_id_coroutine) do
		if type(v) == "thread" and matches(v, co) then
			session, co = s, v
			break
		end
	end
	if session == nil then
		for _, v in ipairs(S.forks()) do
			if matches(v, co) then
				S.fork_remove(v)
				coroutine.close(v)
				return v
			end
		end
		return
	end
	S.forget(co, "request killed")
	-- a reply or a timer may still come for session: drop it then
	S.break_session(session, true)
	coroutine.close(co)
	return co
end

return {} -- the functions above live in the skynet table
