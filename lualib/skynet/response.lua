-- skynet/response.lua -- skynet.response, loaded the first time the name is
-- looked up on the skynet table.
--
-- response(pack) detaches the reply of the running request: the closure it
-- returns may be called later, from any coroutine.  resp(true, ...) replies
-- pack(...); resp(false [, why]) replies an error (why becomes its text);
-- resp("TEST") tells whether resp may still be used.  This module owns the
-- table of unused closures: the scheduler calls S.fail_responses when a
-- requester dies and S.close_responses when the service exits.

local skynet = require "skynet"
local c = require "skynet.core"
local S = require "skynet.internal"

local take_request = S.take_request
local reply, reply_error = S.reply, S.reply_error
local error_payload = S.error_payload
local ctrace = c.trace

local unresponse = {} -- unused closure -> requester address
local unresponse_session = {} -- unused closure -> the request's session
-- read (never changed) by the scheduler when the service is killed
S.unresponse, S.unresponse_session = unresponse, unresponse_session

-- the requester at addr is gone: its closures can no longer answer
function S.fail_responses(addr)
	for resp, a in pairs(unresponse) do
		if a == addr then
			unresponse[resp] = nil
			unresponse_session[resp] = nil
		end
	end
end

-- the service exits: every unused closure answers an error
function S.close_responses(text)
	for resp in pairs(unresponse) do
		resp(false, text)
	end
end

local function noresponse() end

function skynet.response(pack)
	pack = pack or c.pack
	local session, addr, tag = take_request()
	if session == nil then
		error("no session", 2)
	end
	if session == 0 then
		return noresponse
	end
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
			unresponse_session[response] = nil
			if tag then ctrace(tag, "response") end
			if ok then
				local packed, msg, sz = pcall(pack, ...)
				if packed then
					ret = reply(addr, session, msg, sz)
				else -- the caller must not wait forever
					reply_error(addr, session, error_payload(msg))
					error(msg, 2)
				end
			else
				local why = ...
				ret = reply_error(addr, session, why ~= nil and tostring(why) or "")
			end
			ret = ret ~= nil
		end
		pack = nil
		return ret
	end
	unresponse[response] = addr
	unresponse_session[response] = session
	return response
end

return {} -- the function lives in the skynet table
