-- skynet/request.lua -- batches of concurrent calls:
--
--   local req = skynet.request()
--   req:add { addr, "lua", args... }      -- or req{...}; chainable
--   for r, resp in req:select(timeout) do -- resp: table.pack(results),
--   end                                   -- false (call failed) or nil
--                                         -- (invalid address, yielded first)
--
-- A helper coroutine is registered as the waiter of every session of the
-- batch (and of the timeout); it stores each reply and wakes the iterating
-- coroutine.  close() (also __close) abandons the outstanding requests.

local skynet = require "skynet"
local c = require "skynet.core"
local S = require "skynet.internal"

local proto = S.proto
local watch, settle, break_session = S.watch, S.settle, S.break_session

local request_meta = {}
request_meta.__index = request_meta

function request_meta:add(obj)
	assert(type(obj) == "table" and not self._thread, "add a table before select")
	self[#self + 1] = obj
	return self
end
request_meta.__call = request_meta.add

-- Sends every request; returns the list of those to invalid addresses.
local function send_requests(self)
	local sessions = {}
	self._sessions = sessions
	local n = 0
	local invalid
	local tag = S.session_coroutine_tracetag[S.running()]
	for i = 1, #self do
		local req = self[i]
		local addr = req[1]
		local p = proto[req[2]] or error("unknown protocol " .. tostring(req[2]), 3)
		if tag then
			S.trace_event(tag, "call", 4)
			c.send(addr, skynet.PTYPE_TRACE, 0, tag)
		end
		local session = S.send_session(addr, p.id, p.pack(table.unpack(req, 3, req.n or #req)))
		if session == nil then
			invalid = invalid or {}
			invalid[#invalid + 1] = req
		elseif session == false then -- too large: a failed call
			sessions[-i] = req
			self._resp[-i] = false
			n = n + 1
		else
			sessions[session] = req
			watch(session, self._thread, addr)
			n = n + 1
		end
	end
	self._request = n
	return invalid
end

local function request_thread(self)
	while true do
		local ok, msg, sz, session = coroutine.yield "SUSPEND"
		if session == self._timeout then
			self._timeout = nil
			self.timeout = true
		else
			settle(session)
			local req = self._sessions[session]
			if ok then
				self._resp[session] = table.pack(proto[req[2]].unpack(msg, sz))
			else
				self._resp[session] = false
			end
		end
		skynet.wakeup(self)
	end
end

local function request_iter(self)
	return function()
		if self._error then
			local e = table.remove(self._error)
			if e then return e end
			self._error = nil
		end
		local session, resp = next(self._resp)
		if session == nil then
			if self._request == 0 or self.timeout then return end
			skynet.wait(self)
			if self.timeout then return end
			session, resp = next(self._resp)
			if session == nil then return end
		end
		self._request = self._request - 1
		local req = self._sessions[session]
		self._resp[session] = nil
		self._sessions[session] = nil
		return req, resp
	end
end

function request_meta:close()
	if self._request and self._request > 0 then
		local resp = self._resp
		for session in pairs(self._sessions) do
			if session > 0 and resp[session] == nil then
				break_session(session)
			end
		end
		self._request = 0
	end
	if self._timeout then
		break_session(self._timeout)
		self._timeout = nil
	end
end
request_meta.__close = request_meta.close

function request_meta:select(timeout)
	assert(self._thread == nil, "select a request only once")
	local rt = S.running()
	self._thread = coroutine.create(request_thread)
	self._resp = {}
	self._error = send_requests(self)
	if timeout then
		self._timeout = S.timer_session(timeout)
		watch(self._timeout, self._thread)
	end
	S.resume(self._thread, self) -- runs to its first yield
	S.set_running(rt)
	return request_iter(self), nil, nil, self
end

function skynet.request(obj)
	local r = setmetatable({}, request_meta)
	if obj then
		return r(obj)
	end
	return r
end

return skynet.request
