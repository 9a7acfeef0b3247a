-- client.lua -- the login example's client, for Debian's stand-alone
-- lua5.4 (luaclib/client.so: client.socket, client.crypt).  From the
-- repository root, with ./skynet examples/login/config running:
--
--   lua5.4 examples/login/client.lua [host [login_port [gate_port [user [server [password]]]]]]
--
-- It logs in at the login server (DH key exchange, challenge, DES-encrypted
-- token), then talks to the gate twice: the first connection sends "echo"
-- (session 0) and leaves without reading the answer; the second, with a
-- higher handshake index, sends "fake" with the same session 0 (the gate
-- answers it from its cache: "echo") and "again" (session 1).
local dir = (arg and arg[0] or ""):match "^(.*)/[^/]*$" or "."
package.cpath = dir .. "/../../luaclib/?.so;" .. package.cpath

if _VERSION ~= "Lua 5.4" then
	error "Use lua 5.4"
end

local socket = require "client.socket"
local crypt = require "client.crypt"

local host = arg[1] or "127.0.0.1"
local login_port = tonumber(arg[2] or "8001")
local gate_port = tonumber(arg[3] or "8888")
local token = { user = arg[4] or "hello", server = arg[5] or "sample", pass = arg[6] or "password" }

io.stdout:setvbuf "line"

local fd
local last = "" -- bytes received and not consumed yet

-- Waits for more bytes; raises when the server closed.
local function receive()
	while true do
		local r = socket.recv(fd)
		if r == "" then
			error "Server closed"
		elseif r then
			last = last .. r
			return
		end
		socket.usleep(1000)
	end
end

local function readline()
	while true do
		local at = last:find("\n", 1, true)
		if at then
			local line = last:sub(1, at - 1)
			last = last:sub(at + 1)
			return line
		end
		receive()
	end
end

local function writeline(text)
	socket.send(fd, text .. "\n")
end

-- netpack frames: 2-byte big-endian length, then the body
local function readpackage()
	while true do
		if #last >= 2 then
			local n = string.unpack(">I2", last)
			if #last >= n + 2 then
				local body = last:sub(3, n + 2)
				last = last:sub(n + 3)
				return body
			end
		end
		receive()
	end
end

local function send_package(body)
	socket.send(fd, string.pack(">s2", body))
end

local function connect(port)
	fd = socket.connect(host, port)
	last = ""
end

-- Login ------------------------------------------------------------------
connect(login_port)
local challenge = crypt.base64decode(readline())
local clientkey = crypt.randomkey()
writeline(crypt.base64encode(crypt.dhexchange(clientkey)))
local secret = crypt.dhsecret(crypt.base64decode(readline()), clientkey)
print("sceret is ", crypt.hexencode(secret))
writeline(crypt.base64encode(crypt.hmac64(challenge, secret)))
local plain = string.format("%s@%s:%s", crypt.base64encode(token.user), crypt.base64encode(token.server),
	crypt.base64encode(token.pass))
writeline(crypt.base64encode(crypt.desencode(secret, plain)))
local result = readline()
print(result)
socket.close(fd)
if result:sub(1, 3) ~= "200" then
	os.exit(1)
end
local subid = crypt.base64decode(result:sub(5))
print("login ok, subid=", subid)

-- The gate ---------------------------------------------------------------
local function handshake(index)
	local text = string.format("%s@%s#%s:%d", crypt.base64encode(token.user), crypt.base64encode(token.server),
		crypt.base64encode(subid), index)
	send_package(text .. ":" .. crypt.base64encode(crypt.hmac_hash(secret, text)))
	print(readpackage())
end

local function send_request(v, session)
	send_package(v .. string.pack(">I4", session))
	return v, session
end

local function recv_response(v)
	local content, ok, session = string.unpack(">c" .. (#v - 5) .. "BI4", v)
	return ok ~= 0, content, session
end

print "connect"
connect(gate_port)
handshake(1)
print("===>", send_request("echo", 0))
print "disconnect" -- without reading the answer
socket.close(fd)

print "connect again"
connect(gate_port)
handshake(2)
print("===>", send_request("fake", 0)) -- session 0 again: answered from the cache
print("===>", send_request("again", 1))
print("<===", recv_response(readpackage()))
print("<===", recv_response(readpackage()))
print "disconnect"
socket.close(fd)
