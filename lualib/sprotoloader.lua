-- sprotoloader.lua -- share loaded schemas between services through the
-- process-wide slots of sproto.core (spec api-sproto.md §5.3).
--
--   sprotoloader.register(filename, index)   parse a schema file into slot index
--   sprotoloader.save(bin, index)            load a bin into slot index
--   sprotoloader.load(index) -> sp           a wrapper of the slot's schema
--
-- Slots are 0..15 (index defaults to 0); save once at start-up, then any
-- service loads.  A slot's schema lives as long as the process keeps
-- sproto.so loaded (some service must keep it required), and is never
-- freed, even when the slot is saved again.
-- Unlike upstream, an invalid bin is refused at save time with the reason
-- (upstream stores an empty slot that only fails later, in load).
local parser = require "sprotoparser"
local core = require "sproto.core"
local sproto = require "sproto"

local loader = {}

function loader.register(filename, index)
	local f = io.open(filename, "rb")
	if not f then
		error("Can't open sproto file " .. tostring(filename), 2)
	end
	local text = f:read "a"
	f:close()
	loader.save(parser.parse(text, filename), index)
end

function loader.save(bin, index)
	local sp, why = core.newproto(bin)
	if not sp then
		error("sprotoloader.save: " .. tostring(why), 2)
	end
	core.saveproto(sp, index)
end

function loader.load(index)
	return sproto.sharenew(core.loadproto(index))
end

return loader
