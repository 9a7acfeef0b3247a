-- snax_remote.lua -- the snax service reached over a cluster by
-- test/e2e/test_snax_cluster.sh (through cluster.snax).
local skynet = require "skynet"
local snax = require "skynet.snax"

local hellos = 0

function init(...)
	snax.enablecluster() -- cluster requests arrive as "lua"
	skynet.error("snax_remote init", ...)
end

function response.ping(text)
	return text, skynet.self()
end

function accept.hello(n)
	hellos = hellos + (n or 1)
end

function response.hellos()
	return hellos
end

function response.error()
	error "remote snax error"
end
