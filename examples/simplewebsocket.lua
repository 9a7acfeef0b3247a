-- A WebSocket echo server and its client (upstream's
-- examples/simplewebsocket.lua): ./skynet examples/config.simplewebsocket
-- The main service listens (config keys simplewebsocket_address, default
-- 0.0.0.0, simplewebsocket_port, default 9948, simplewebsocket_protocol,
-- "ws" or "wss" with certfile / keyfile), hands each connection to one of
-- 20 agents round robin, then starts a client service that connects to
-- <protocol>://127.0.0.1:<port>/test_websocket and, once a second, sends
-- "hello world!", reads the echo and pings.  Callbacks print what they see.
local skynet = require "skynet"
local socket = require "skynet.socket"
local service = require "skynet.service"
local websocket = require "http.websocket"

local mode, protocol = ...
protocol = protocol or "ws"

if mode == "agent" then
	local handle = {}

	function handle.connect(id)
		print("ws connect from: " .. tostring(id))
	end

	function handle.handshake(id, header, url)
		local addr = websocket.addrinfo(id)
		print("ws handshake from: " .. tostring(id), "url", url, "addr:", addr)
		print("----header-----")
		for k, v in pairs(header) do
			print(k, v)
		end
		print("--------------")
	end

	function handle.message(id, msg, msg_type)
		websocket.write(id, msg, msg_type)
	end

	function handle.ping(id)
		print("ws ping from: " .. tostring(id) .. "\n")
	end

	function handle.pong(id)
		print("ws pong from: " .. tostring(id))
	end

	function handle.close(id, code, reason)
		print("ws close from: " .. tostring(id), code, reason)
	end

	function handle.error(id)
		print("ws error from: " .. tostring(id))
	end

	skynet.start(function()
		skynet.dispatch("lua", function(_, _, id, addr)
			print("accept client socket_id: " .. id .. " addr:" .. addr)
			local ok, err = websocket.accept(id, handle, protocol, addr)
			if not ok then
				print(err)
			end
		end)
	end)
else
	local function simple_echo_client_service(url)
		local skynet = require "skynet"
		local websocket = require "http.websocket"
		local ws_id = websocket.connect(url)
		while true do
			local msg = "hello world!"
			websocket.write(ws_id, msg)
			print(">: " .. msg)
			local resp, close_reason = websocket.read(ws_id)
			print("<: " .. (resp and resp or "[Close] " .. tostring(close_reason)))
			if not resp then
				print("echo server close.")
				break
			end
			websocket.ping(ws_id)
			skynet.sleep(100)
		end
	end

	skynet.start(function()
		protocol = skynet.getenv "simplewebsocket_protocol" or "ws"
		local agent = {}
		for i = 1, 20 do
			agent[i] = skynet.newservice(SERVICE_NAME, "agent", protocol)
		end
		local balance = 1
		local address = skynet.getenv "simplewebsocket_address" or "0.0.0.0"
		local port = tonumber(skynet.getenv "simplewebsocket_port") or 9948
		local id = socket.listen(address, port)
		skynet.error(string.format("Listen websocket port %d protocol:%s", port, protocol))
		socket.start(id, function(fd, addr)
			skynet.send(agent[balance], "lua", fd, addr)
			balance = balance + 1
			if balance > #agent then
				balance = 1
			end
		end)
		if skynet.getenv "simplewebsocket_client" ~= "false" then
			local url = string.format("%s://127.0.0.1:%d/test_websocket", protocol, port)
			service.new("websocket_echo_client", simple_echo_client_service, url)
		end
	end)
end
