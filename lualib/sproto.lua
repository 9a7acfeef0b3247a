-- sproto.lua -- the sproto object API and RPC host (spec api-sproto.md §5.1,
-- §5.2) over sproto.core (luaclib/sproto.so).
--
--   local sp = sproto.parse(text)  /  sproto.new(bin)  /  sproto.sharenew(cobj)
--   sp:encode(T, tbl)  sp:decode(T, blob [,sz] [,tbl])  sp:pencode  sp:pdecode
--   sp:queryproto(name|tag)  sp:request_encode / response_encode / *_decode
--   sp:exist_type(T)  sp:exist_proto(name|tag)  sp:default(T [, "REQUEST"|"RESPONSE"])
--   local host = sp:host "package"
--   local req = host:attach(sp2)        req(name, args, session, ud) -> packed request
--   host:dispatch(blob [,sz]) -> "REQUEST", name, args, respond, ud
--                             |  "RESPONSE", session, args, ud
--
-- A message is pack(header .. body): the header is the package type
-- ({type = protocol tag (requests only), session, ud}), the body the
-- request or response type.  The host builds and reads messages through
-- core.packmessage / core.unpackheader, which encode or decode the header
-- and body in one C call without intermediate strings; the bytes are the
-- same as upstream's.
local core = require "sproto.core"

local assert, error, setmetatable, type, tostring = assert, error, setmetatable, type, tostring
local core_encode, core_decode = core.encode, core.decode
local core_pack, core_unpack = core.pack, core.unpack
local core_querytype, core_protocol = core.querytype, core.protocol
local packmessage, unpackheader = core.packmessage, core.unpackheader

local sproto = {}
local host = {}

local sproto_mt = { __index = sproto }
local sproto_nogc = { __index = sproto }
local host_mt = { __index = host }

function sproto_mt:__gc()
	core.deleteproto(self.__cobj)
end

local function wrap(cobj, mt)
	return setmetatable({
		__cobj = cobj,
		__tcache = {}, -- type name -> type handle (found ones only)
		__pcache = {}, -- name or tag -> protocol table (found ones only)
	}, mt)
end

-- Loads a bin; the schema is freed when the object is collected.
function sproto.new(bin)
	local cobj, why = core.newproto(bin)
	if not cobj then
		error("sproto.new: " .. tostring(why), 2)
	end
	return wrap(cobj, sproto_mt)
end

-- Wraps a schema owned elsewhere (a sprotoloader slot): never freed here.
function sproto.sharenew(cobj)
	return wrap(cobj, sproto_nogc)
end

function sproto.parse(text)
	local parser = require "sprotoparser"
	return sproto.new(parser.parse(text))
end

sproto.pack = core_pack
sproto.unpack = core_unpack

local function querytype(self, name)
	local st = self.__tcache[name]
	if st == nil then
		st = core_querytype(self.__cobj, name)
		if st == nil then
			error("type not found: " .. tostring(name), 3)
		end
		self.__tcache[name] = st
	end
	return st
end

function sproto:exist_type(name)
	return self.__tcache[name] ~= nil or core_querytype(self.__cobj, name) ~= nil
end

-- {name, tag, request, response}: request nil if none; response nil if
-- none, the NULL handle (truthy) for `response nil`.
local function queryproto(self, key)
	local p = self.__pcache[key]
	if p == nil then
		local a, request, response = core_protocol(self.__cobj, key)
		if a == nil then
			error(tostring(key) .. " not found", 3)
		end
		if type(key) == "string" then
			p = { name = key, tag = a, request = request, response = response }
		else
			p = { name = a, tag = key, request = request, response = response }
		end
		self.__pcache[key] = p
	end
	return p
end

function sproto:queryproto(key)
	return queryproto(self, key)
end

function sproto:exist_proto(key)
	return self.__pcache[key] ~= nil or core_protocol(self.__cobj, key) ~= nil
end

function sproto:encode(typename, tbl)
	return core_encode(querytype(self, typename), tbl)
end

function sproto:decode(typename, ...)
	return core_decode(querytype(self, typename), ...)
end

function sproto:pencode(typename, tbl)
	return core_pack(core_encode(querytype(self, typename), tbl))
end

function sproto:pdecode(typename, ...)
	return core_decode(querytype(self, typename), core_unpack(...))
end

function sproto:request_encode(name, tbl)
	local p = queryproto(self, name)
	if p.request == nil then
		return "", p.tag
	end
	return core_encode(p.request, tbl), p.tag
end

function sproto:response_encode(name, tbl)
	local p = queryproto(self, name)
	if p.response == nil then
		return ""
	end
	return core.encode(p.response, tbl) -- errors name 'encode', as upstream's
end

function sproto:request_decode(name, ...)
	local p = queryproto(self, name)
	if p.request == nil then
		return nil, p.name
	end
	return (core_decode(p.request, ...)), p.name
end

function sproto:response_decode(name, ...)
	local p = queryproto(self, name)
	if p.response then
		return core_decode(p.response, ...)
	end
end

function sproto:default(typename, kind)
	if kind == nil then
		return core.default(querytype(self, typename))
	end
	local p = queryproto(self, typename)
	local st
	if kind == "REQUEST" then
		st = p.request
	elseif kind == "RESPONSE" then
		st = p.response
	else
		error "Invalid type"
	end
	if st then
		return core.default(st)
	end
end

-- ---- RPC host -------------------------------------------------------------------

function sproto:host(packagename)
	packagename = packagename or "package"
	local st = core_querytype(self.__cobj, packagename)
	if not st then
		error("type " .. tostring(packagename) .. " not found", 2)
	end
	return setmetatable({
		__proto = self,
		__package = st,
		__session = {}, -- session -> response type handle, or true (none)
		__header = {},  -- reused header table (type, session, ud)
	}, host_mt)
end

-- The reply to a request that carried a session: packed header {session,
-- ud} + the encoded args (only when the protocol has a response type).
local function gen_response(self, response, session)
	return function(args, ud)
		local header = self.__header
		header.type = nil
		header.session = session
		header.ud = ud
		local msg = packmessage(self.__package, header, response, args)
		header.session = nil
		header.ud = nil
		return msg
	end
end

function host:dispatch(...)
	local header = self.__header
	header.type = nil
	header.session = nil
	header.ud = nil
	local _, body, bodysz = unpackheader(self.__package, header, ...)
	local tag, session, ud = header.type, header.session, header.ud
	header.type = nil
	header.session = nil
	header.ud = nil
	if tag then
		-- a request
		local p = queryproto(self.__proto, tag)
		local args
		if p.request then
			args = core_decode(p.request, body, bodysz)
		end
		if session then
			return "REQUEST", p.name, args, gen_response(self, p.response, session), ud
		end
		return "REQUEST", p.name, args, nil, ud
	end
	-- a response
	if session == nil then
		error("session not found", 2)
	end
	local response = self.__session[session]
	if response == nil then
		error("Unknown session", 2)
	end
	self.__session[session] = nil
	if response == true then
		return "RESPONSE", session, nil, ud
	end
	return "RESPONSE", session, (core_decode(response, body, bodysz)), ud
end

function host:attach(sp)
	return function(name, args, session, ud)
		local p = queryproto(sp, name)
		local header = self.__header
		header.type = p.tag
		header.session = session
		header.ud = ud
		local msg = packmessage(self.__package, header, p.request, args)
		header.type = nil
		header.session = nil
		header.ud = nil
		if session then
			self.__session[session] = p.response or true
		end
		return msg
	end
end

return sproto
