-- skynet/docwatch.lua -- readers parked until a shared document has a new
-- version: the `monitor` command of sharedatad and of the datasheet service.
-- Each parked reader is a skynet.response; documents are reference counted
-- by the caller's retain/release (each reader answered holds one reference).
--
--   local w = docwatch.new()
--   w:park()                        -- in a request handler: answer it later
--   w:wake(doc, retain, release)    -- answer every parked reader with doc
--                                   -- (nil: the document is gone)

local skynet = require "skynet"

local docwatch = {}
local meta = { __index = docwatch }

local PRUNE_MIN = 64

function docwatch.new()
	return setmetatable({ list = {}, prune = PRUNE_MIN }, meta)
end

-- Parks the request being handled.  Readers that died meanwhile are
-- dropped whenever the list has doubled since the last look, so a name
-- nobody updates cannot collect dead readers without bound.
function docwatch:park()
	local w = self.list
	w[#w + 1] = skynet.response()
	if #w >= self.prune then
		local live = {}
		for _, resp in ipairs(w) do
			if resp "TEST" then
				live[#live + 1] = resp
			end
		end
		self.list = live
		self.prune = math.max(PRUNE_MIN, #live * 2)
	end
end

function docwatch:wake(doc, retain, release)
	local w = self.list
	self.list = {}
	for _, resp in ipairs(w) do
		if doc then
			retain(doc)
		end
		if not resp(true, doc) and doc then
			release(doc) -- the reader is gone
		end
	end
end

return docwatch
