-- bench_http_agent.lua -- owns connections of the `http` scenario (see
-- bench_echo.lua): http.httpd.read_request / write_response in a keep-alive
-- loop.  GET /bench answers 200 with a 64-byte text body, anything else 404.
local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local urllib = require "http.url"

local BODY = ("skynet bench http body\n"):rep(3):sub(1, 64)
local HEADER = {["content-type"] = "text/plain"}

local function serve(main, fd)
	socket.start(fd)
	local read, write = sockethelper.readfunc(fd), sockethelper.writefunc(fd)
	local n = 0
	while true do
		local code, url = httpd.read_request(read, 8192)
		if not code then
			break
		end
		local ok
		if code == 200 and urllib.parse(url) == "/bench" then
			ok = httpd.write_response(write, 200, BODY, HEADER)
		else
			ok = httpd.write_response(write, code == 200 and 404 or code)
		end
		if not ok then
			break
		end
		n = n + 1
	end
	socket.close(fd)
	skynet.send(main, "lua", "closed", n)
end

skynet.start(function()
	skynet.dispatch("lua", function(_, source, cmd, fd)
		if cmd == "conn" then
			skynet.fork(serve, source, fd)
		end
	end)
end)
