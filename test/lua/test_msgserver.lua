-- test_msgserver.lua -- snax.msgserver's response cache retirement
-- (expired_number), through the real protocol: this service is the client,
-- over TCP on 127.0.0.1, with netpack frames, the hmac handshake and
-- session-tagged requests, against test/lua/svc_msggate.lua launched with
-- expired_number 4.
--
-- With E = 4, once 2E responses are cached the E oldest are dropped and the
-- others renumbered 0..E-1.  Sessions 1..14 answered in turn: after 8,
-- sessions 1-4 go and 5-8 become 0-3; 9-12 take 4-7; after 12, sessions 5-8
-- go (only if they were renumbered) and 9-12 become 0-3; 13, 14 take 4, 5.
-- A client that reconnects and sends a session again gets the cached answer
-- of 9-14 and a fresh run for 1-8 (fresh runs are new responses, so they
-- bring on the next retirement).
local skynet = require "skynet"
local socket = require "skynet.socket"
local crypt = require "skynet.crypt"
local T = require "testlib"

local E = 4
local SECRET = "12345678"
local b64 = crypt.base64encode

local function free_port()
	local id, _, port = socket.listen("127.0.0.1", 0)
	socket.close(id)
	return port
end

local function send_frame(fd, body)
	socket.write(fd, string.pack(">s2", body))
end

local function read_frame(fd)
	local head = socket.read(fd, 2)
	if not head then
		return nil
	end
	return socket.read(fd, (string.unpack(">I2", head)))
end

-- Connects and authenticates with handshake index `index`; returns the fd
-- and the server's status line.
local function connect(port, username, index)
	local fd = assert(socket.open("127.0.0.1", port))
	local text = username .. ":" .. index
	send_frame(fd, text .. ":" .. b64(crypt.hmac_hash(SECRET, text)))
	return fd, read_frame(fd)
end

-- One request; returns content, ok, session of the response.
local function request(fd, content, session)
	send_frame(fd, content .. string.pack(">I4", session))
	local r = read_frame(fd)
	if r == nil or #r < 5 then
		return nil
	end
	return r:sub(1, -6), r:byte(-5), string.unpack(">I4", r, -4)
end

T.run("test_msgserver", function()
	local port = free_port()
	local gate = skynet.newservice("svc_msggate", E)
	skynet.call(gate, "lua", "open", { address = "127.0.0.1", port = port, servername = "test" })
	local subid = skynet.call(gate, "lua", "login", "alice", SECRET)
	local username = b64 "alice" .. "@" .. b64 "test" .. "#" .. b64(tostring(subid))

	local fd, status = connect(port, username, 1)
	T.eq("handshake with index 1 is accepted", status, "200 OK")
	local answered = 0
	for session = 1, 14 do
		local content, ok, s = request(fd, "r" .. session, session)
		if content == "r" .. session .. "#" .. session and ok == 1 and s == session then
			answered = answered + 1
		else
			T.fail("request " .. session, string.format("got %q %s %s", tostring(content), tostring(ok),
				tostring(s)))
		end
	end
	T.eq("14 requests (more than 2 x expired_number 4) on one connection, each answered once", answered, 14)

	local fd2
	fd2, status = connect(port, username, 2)
	T.eq("reconnect with index 2 is accepted", status, "200 OK")
	T.eq("session 14 again after the reconnect: the cached answer", request(fd2, "fake", 14), "r14#14")
	T.eq("session 9, oldest kept (renumbered to 0 at the second retirement): the cached answer",
		request(fd2, "fake", 9), "r9#9")
	T.eq("session 8, dropped at the second retirement (after its renumbering): run again",
		request(fd2, "fake8", 8), "fake8#15")
	T.eq("session 5, dropped at the second retirement: run again", request(fd2, "fake5", 5), "fake5#16")
	T.eq("session 1, dropped at the first retirement: run again", request(fd2, "fake1", 1), "fake1#17")
	-- the fresh answers to 8 and 5 took indices 6 and 7: a third
	-- retirement dropped 9-12 and renumbered 13, 14, 8, 5 to 0-3
	T.eq("session 13, renumbered and kept by the third retirement: the cached answer",
		request(fd2, "fake", 13), "r13#13")
	T.eq("session 12, dropped by the third retirement: run again", request(fd2, "fake12", 12), "fake12#18")
	socket.close(fd2)
	socket.close(fd)
end)
