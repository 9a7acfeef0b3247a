-- skynet/sharemap.lua -- a sproto record shared through skynet.stm: one
-- writer service, readers in others.
--
--   sharemap.register(protofile)          parse the schema into global sproto slot 0
--   local w = sharemap.writer(typename [, obj])   w.x = 1; w:commit(); w:copy() -> ptr for one reader
--   local r = sharemap.reader(typename, ptr)      r.x; r:update() -> changed
--
-- commit encodes the record and publishes it; update decodes the latest
-- one (if the writer committed since) into the reader's fields.

local stm = require "skynet.stm"
local sprotoloader = require "sprotoloader"

local sharemap = {}
local sp

local function schema()
	if sp == nil then
		sp = sprotoloader.load(0)
	end
	return sp
end

function sharemap.register(protofile)
	sprotoloader.register(protofile, 0)
end

local writer = {}
writer.__index = writer

function writer:commit()
	self.__stm(schema():encode(self.__typename, self.__data))
end

function writer:copy()
	return stm.copy(self.__stm)
end

function sharemap.writer(typename, obj)
	obj = obj or {}
	local self = {
		__typename = typename,
		__data = obj,
		__stm = stm.new(schema():encode(typename, obj)),
		commit = writer.commit,
		copy = writer.copy,
	}
	-- fields read and written through to obj
	return setmetatable(self, { __index = obj, __newindex = obj })
end

local function decode(msg, sz, self)
	local data = self.__data
	for k in pairs(data) do
		data[k] = nil
	end
	return schema():decode(self.__typename, msg, sz, data)
end

local reader = {}

function reader:update()
	return self.__stm(decode, self)
end

function sharemap.reader(typename, stmcopy)
	local data = {}
	local self = {
		__typename = typename,
		__data = data,
		__stm = stm.newcopy(stmcopy),
		update = reader.update,
	}
	self.__stm(decode, self)
	return setmetatable(self, {
		__index = data,
		__newindex = function(_, k)
			error("sharemap: the reader is read-only (field " .. tostring(k) .. ")", 2)
		end,
	})
end

return sharemap
