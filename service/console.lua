-- console: launches services typed on the node's stdin, one a line:
--   name [args...]         skynet.newservice(name, args...)
--   snax name [args...]    snax.newservice(name, args...)
-- A launch that fails is logged and the console goes on.  When stdin is at
-- end of file (or cannot be watched, e.g. /dev/null) the console exits.
local skynet = require "skynet"
local socket = require "skynet.socket"

local function split(line)
	local words = {}
	for w in line:gmatch("%S+") do
		words[#words + 1] = w
	end
	return words
end

local function launch(words)
	if words[1] == "snax" then
		local snax = require "skynet.snax"
		return snax.newservice(table.unpack(words, 2))
	end
	return skynet.newservice(table.unpack(words))
end

skynet.start(function()
	skynet.fork(function()
		local ok, stdin = pcall(socket.stdin)
		if not ok or not stdin then
			-- nothing to read (stdin closed, or a file epoll cannot watch)
			skynet.exit()
			return
		end
		while true do
			local line = socket.readline(stdin, "\n")
			if not line then
				break
			end
			local words = split(line)
			if #words > 0 then
				local ok, err = pcall(launch, words)
				if not ok then
					skynet.error(string.format("console: %s: %s", line, tostring(err)))
				end
			end
		end
		skynet.exit()
	end)
end)
