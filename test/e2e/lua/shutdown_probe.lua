-- Leaves `probe_count` messages queued for the harbor service (sent to a
-- global name nobody registers), then fails: the node must still exit.
local skynet = require "skynet"

skynet.start(function()
	local n = tonumber(skynet.getenv "probe_count") or 2000
	for i = 1, n do
		skynet.send("nobody", "lua", i)
	end
	error("shutdown probe fails on purpose after " .. n .. " sends")
end)
