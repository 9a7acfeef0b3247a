-- ws_upgrade.lua -- started by test/e2e/test_websocket.sh: an HTTP server
-- on 127.0.0.1:<ws_upgrade_port> that reads each request with httpd and
-- hands an upgrade request over to websocket.accept(..., {upgrade = ...})
-- (the spec's path for a server that already read the request), echoing
-- every message; any other request gets "plain <url>".
local skynet = require "skynet"
local socket = require "skynet.socket"
local httpd = require "http.httpd"
local sockethelper = require "http.sockethelper"
local websocket = require "http.websocket"

local handle = {}

function handle.message(id, msg, kind)
	websocket.write(id, msg, kind)
end

local function serve(fd, addr)
	socket.start(fd)
	local read = sockethelper.readfunc(fd)
	local code, url, method, header = httpd.read_request(read, 8192)
	if code == 200 and type(header.upgrade) == "string" and header.upgrade:lower() == "websocket" then
		local ok, err = websocket.accept(fd, handle, "ws", addr, {upgrade = {header = header, method = method, url = url}})
		if not ok then
			skynet.error("ws_upgrade: " .. tostring(err))
		end
		return
	end
	httpd.write_response(sockethelper.writefunc(fd), code or 400, "plain " .. tostring(url))
	socket.close(fd)
end

skynet.start(function()
	local port = tonumber(skynet.getenv "ws_upgrade_port")
	local lid = socket.listen("127.0.0.1", port)
	socket.start(lid, function(fd, addr)
		skynet.fork(serve, fd, addr)
	end)
	skynet.error("ws_upgrade listening on " .. port)
end)
