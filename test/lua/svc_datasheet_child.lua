-- svc_datasheet_child.lua -- the "child" of upstream's test/testdatasheet.lua
-- (spec api-shared-data.md §8.4): dumps "foobar" as upstream's dump does,
-- sends the lines to the parent (argument) instead of printing them, then
-- sleeps 1 s and exits, so the parent's newservice returns after all of it.
local skynet = require "skynet"
local datasheet = require "skynet.datasheet"

local parent = tonumber((...))
local lines = {}

local function dump(t, prefix)
	for k, v in pairs(t) do
		lines[#lines + 1] = table.concat({ prefix, tostring(k), tostring(v) }, "\t")
		if type(v) == "table" then
			dump(v, prefix .. "." .. k)
		end
	end
end

skynet.start(function()
	dump(datasheet.query "foobar", "[CHILD]")
	skynet.send(parent, "lua", "child", lines)
	skynet.sleep(100)
	skynet.exit()
end)
