-- skynet/response.lua -- skynet.response (api-skynet.md §3.3), loaded the
-- first time the name is looked up on the skynet table.
--
-- response(pack) detaches the reply of the running request: the closure it
-- returns may be called later, from any coroutine.  resp(true, ...) replies
-- pack(...); resp(false [, why]) replies an error (why becomes its text);
-- resp("TEST") tells whether resp may still be used.  Unused closures are
-- kept in S.unresponse so that exiting or a dead requester can settle them.

local skynet = require "skynet"
local c = require "skynet.core"
local S = require "skynet.internal"

local session_coroutine_id = S.session_coroutine_id
local session_coroutine_address = S.session_coroutine_address
local session_coroutine_tracetag = S.session_coroutine_tracetag
local unresponse = S.unresponse
local error_payload = S.error_payload
local csend, ctrace = c.send, c.trace

local function noresponse() end

function skynet.response(pack)
	pack = pack or c.pack
	local co = S.running()
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

return {} -- the function lives in the skynet table
