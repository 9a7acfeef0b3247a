-- login_liar.lua -- clients of the login example that lie at each step,
-- run by test/e2e/test_login.sh with the stand-alone lua5.4:
--   lua5.4 login_liar.lua ROOT HOST LOGIN_PORT GATE_PORT
-- Prints one PASS/FAIL line per check.  Every wait is bounded (5 s).
local root, host, login_port, gate_port = ...
package.cpath = root .. "/luaclib/?.so"
login_port, gate_port = tonumber(login_port), tonumber(gate_port)

local socket = require "client.socket"
local crypt = require "client.crypt"
local b64, unb64 = crypt.base64encode, crypt.base64decode

io.stdout:setvbuf "line"

local function check(name, ok, why)
	if ok then
		print("PASS " .. name)
	else
		print("FAIL " .. name .. ": " .. tostring(why))
	end
end

local function eq(name, got, want)
	check(name, got == want, string.format("got %q, want %q", tostring(got), tostring(want)))
end

-- A connection with a receive buffer.  recv waits at most `limit` ms.
local Conn = {}
Conn.__index = Conn

local function connect(port)
	return setmetatable({ fd = socket.connect(host, port), buf = "", closed = false }, Conn)
end

function Conn:more(limit)
	limit = limit or 5000
	for _ = 1, limit do
		local ok, r = pcall(socket.recv, self.fd)
		if not ok or r == "" then
			self.closed = true
			return false
		elseif r then
			self.buf = self.buf .. r
			return true
		end
		socket.usleep(1000)
	end
	return false
end

function Conn:line(limit)
	while true do
		local at = self.buf:find("\n", 1, true)
		if at then
			local l = self.buf:sub(1, at - 1)
			self.buf = self.buf:sub(at + 1)
			return l
		end
		if not self:more(limit) then
			return nil
		end
	end
end

function Conn:frame(limit)
	while true do
		if #self.buf >= 2 then
			local n = string.unpack(">I2", self.buf)
			if #self.buf >= n + 2 then
				local body = self.buf:sub(3, n + 2)
				self.buf = self.buf:sub(n + 3)
				return body
			end
		end
		if not self:more(limit) then
			return nil
		end
	end
end

function Conn:send(s)
	pcall(socket.send, self.fd, s)
end

function Conn:close()
	socket.close(self.fd)
end

-- Waits until the server closes (true) or `limit` ms pass (false).
function Conn:wait_closed(limit)
	while not self.closed do
		if not self:more(limit or 5000) and not self.closed then
			return false
		end
	end
	return true
end

local function token(user, server, pass)
	return string.format("%s@%s:%s", b64(user), b64(server), b64(pass))
end

-- Runs the login handshake; `lie` overrides one step.  Returns the result
-- line (nil if none), the secret and the connection.
local function login(user, lie)
	lie = lie or {}
	local c = connect(login_port)
	local challenge = unb64(c:line())
	local clientkey = crypt.randomkey()
	c:send((lie.key_line or b64(crypt.dhexchange(clientkey))) .. (lie.eol or "\n"))
	if lie.leave_after_key then
		c:close()
		return nil
	end
	local spub = c:line()
	local ok, pub = pcall(unb64, spub)
	if not ok or #pub ~= 8 then -- the server answered already (401), or closed
		c:close()
		return spub
	end
	local secret = crypt.dhsecret(pub, clientkey)
	c:send((lie.hmac_line or b64(crypt.hmac64(challenge, secret))) .. "\n")
	local plain = lie.token or token(user, lie.server or "sample", lie.pass or "password")
	c:send((lie.token_line or b64(crypt.desencode(secret, plain))) .. "\n")
	local result = c:line()
	c:close()
	return result, secret
end

-- Login -------------------------------------------------------------------
local function login_liars()
	local r = login "liar"
	check("login: an honest client gets 200 <base64 subid>", r and r:match "^200 [%w+/=]+$", r)
	eq("login: wrong password -> 401", login("liar", { pass = "nope" }), "401 Unauthorized")
	eq("login: unknown server -> 403", login("liar", { server = "nosuch" }), "403 Forbidden")
	eq("login: wrong challenge hmac -> 401", login("liar", { hmac_line = b64 "12345678" }), "401 Unauthorized")
	eq("login: client key of 7 bytes -> 401", login("liar", { key_line = b64 "1234567" }), "401 Unauthorized")
	eq("login: client key that is not base64 -> 401", login("liar", { key_line = "!!!!" }), "401 Unauthorized")
	eq("login: a \\r\\n-terminated key line -> 401", login("liar", { eol = "\r\n" }), "401 Unauthorized")
	eq("login: a DES token that is not base64 -> 401", login("liar", { token_line = "%%%" }), "401 Unauthorized")
	eq("login: a DES token of 7 bytes -> 401", login("liar", { token_line = b64 "1234567" }), "401 Unauthorized")
	eq("login: a DES token with the wrong key -> 401",
		login("liar", { token_line = b64(crypt.desencode("wrongkey", token("liar", "sample", "password"))) }),
		"401 Unauthorized")
	eq("login: a token without fields -> 401", login("liar", { token = "garbage" }), "401 Unauthorized")
	-- garbage instead of the protocol
	local c = connect(login_port)
	c:line()
	c:send(("x"):rep(100) .. "\n")
	eq("login: a garbage line gets 401", c:line(), "401 Unauthorized")
	check("login: then the server closes", c:wait_closed())
	c:close()
	-- leaving mid-handshake: nothing is written, the server keeps serving
	login("liar", { leave_after_key = true })
	c = connect(login_port)
	c:line()
	c:close()
	-- an endless line: the 8 KiB limit drops the connection
	c = connect(login_port)
	c:line()
	c:send(("A"):rep(20000))
	check("login: a line over 8 KiB gets the connection closed without an answer",
		c:wait_closed() and c.buf == "", c.buf)
	c:close()
	-- a silent client: dropped when login_timeout (1 s in the test config) runs out
	c = connect(login_port)
	c:line()
	check("login: a client silent in the handshake is dropped after login_timeout, without an answer",
		c:wait_closed(5000) and c.buf == "", c.buf)
	c:close()
	r = login "liar"
	check("login: still serving honest clients after the liars", r and r:sub(1, 3) == "200", r)
end

-- The gate ----------------------------------------------------------------
local function gate_handshake(user, subid, secret, index, lie)
	lie = lie or {}
	local c = connect(gate_port)
	local text = string.format("%s@%s#%s:%s", b64(user), b64 "sample", b64(subid), lie.index_text or index)
	local hmac = lie.hmac or b64(crypt.hmac_hash(secret, text))
	c:send(string.pack(">s2", lie.body or (text .. ":" .. hmac)))
	return c:frame(), c
end

local function gate_liars()
	local r, secret = login "gateliar"
	local subid = r and unb64(r:sub(5))
	if not subid then
		check("gate: login for the gate checks", false, r)
		return
	end
	local res, c = gate_handshake("nobody", subid, secret, 1)
	eq("gate: unknown user -> 404", res, "404 User Not Found")
	check("gate: refused connections are closed", c:wait_closed())
	eq("gate: body without fields -> 404", (gate_handshake("x", subid, secret, 1, { body = "garbage" })),
		"404 User Not Found")
	eq("gate: bad hmac -> 401", (gate_handshake("gateliar", subid, secret, 1, { hmac = b64 "12345678" })),
		"401 Unauthorized")
	eq("gate: hmac made with another secret -> 401", (gate_handshake("gateliar", subid, "87654321", 1)),
		"401 Unauthorized")
	eq("gate: index abc -> 400", (gate_handshake("gateliar", subid, secret, 1, { index_text = "abc" })),
		"400 Bad Request")
	eq("gate: hmac not base64 -> 400", (gate_handshake("gateliar", subid, secret, 1, { hmac = "!!!" })),
		"400 Bad Request")
	eq("gate: index 0 -> 403 (indices start at 1)", (gate_handshake("gateliar", subid, secret, 0)),
		"403 Index Expired")
	local ok5, c5 = gate_handshake("gateliar", subid, secret, 5)
	eq("gate: index 5 accepted", ok5, "200 OK")
	-- a request works, and its answer carries ok and the session
	c5:send(string.pack(">s2", "hi" .. string.pack(">I4", 77)))
	eq("gate: request 'hi' session 77 -> body 68 69 01 0000004d", c5:frame(), "hi\1\0\0\0\77")
	eq("gate: replayed handshake (index 5 again) -> 403", (gate_handshake("gateliar", subid, secret, 5)),
		"403 Index Expired")
	eq("gate: stale handshake (index 3) -> 403", (gate_handshake("gateliar", subid, secret, 3)),
		"403 Index Expired")
	c5:send(string.pack(">s2", "hi" .. string.pack(">I4", 78)))
	eq("gate: the authenticated connection still works after the replays", c5:frame(), "hi\1\0\0\0\78")
	-- a 2-byte request: logged and closed
	c5:send(string.pack(">s2", "ab"))
	check("gate: a request shorter than its session closes the connection", c5:wait_closed())
	c5:close()
	-- three copies of a pending session: the third is a conflict
	local ok6, c6 = gate_handshake("gateliar", subid, secret, 6)
	eq("gate: index 6 accepted", ok6, "200 OK")
	local req = string.pack(">s2", "dup" .. string.pack(">I4", 3))
	c6:send(req .. req .. req)
	check("gate: a third copy of a pending session closes the connection", c6:wait_closed())
	c6:close()
	-- retransmission after a reconnect
	local ok7, c7 = gate_handshake("gateliar", subid, secret, 7)
	eq("gate: index 7 accepted", ok7, "200 OK")
	c7:send(string.pack(">s2", "first" .. string.pack(">I4", 9)))
	c7:close()
	local ok8, c8 = gate_handshake("gateliar", subid, secret, 8)
	eq("gate: index 8 accepted", ok8, "200 OK")
	c8:send(string.pack(">s2", "other" .. string.pack(">I4", 9)))
	eq("gate: a session sent again after a reconnect gets the cached answer", c8:frame(), "first\1\0\0\0\9")
	-- a new connection retires the previous one
	local ok9, c9 = gate_handshake("gateliar", subid, secret, 9)
	eq("gate: index 9 accepted", ok9, "200 OK")
	check("gate: the older authenticated connection is closed", c8:wait_closed())
	c8:close()
	-- a frame announcing more than it sends, then leaving
	local cx = connect(gate_port)
	cx:send("\255\255abc")
	cx:close()
	c9:send(string.pack(">s2", "alive" .. string.pack(">I4", 1)))
	eq("gate: still serving after the liars", c9:frame(), "alive\1\0\0\0\1")
	c9:close()
end

-- Concurrent logins of one user: later ones kick earlier sessions;
-- one inside login_handler makes the others 406.
local function concurrent()
	local conns = {}
	for i = 1, 6 do
		local c = connect(login_port)
		conns[i] = { c = c, challenge = unb64(c:line()), key = crypt.randomkey() }
	end
	for _, x in ipairs(conns) do
		x.c:send(b64(crypt.dhexchange(x.key)) .. "\n")
	end
	for _, x in ipairs(conns) do
		x.secret = crypt.dhsecret(unb64(x.c:line()), x.key)
		x.c:send(b64(crypt.hmac64(x.challenge, x.secret)) .. "\n")
		x.c:send(b64(crypt.desencode(x.secret, token("multi", "sample", "password"))) .. "\n")
	end
	local n200, n406, other = 0, 0, {}
	for _, x in ipairs(conns) do
		local r = x.c:line()
		if r and r:sub(1, 3) == "200" then
			n200 = n200 + 1
		elseif r == "406 Not Acceptable" then
			n406 = n406 + 1
		else
			other[#other + 1] = tostring(r)
		end
		x.c:close()
	end
	check(string.format("login: 6 simultaneous logins of one user: %d x 200, %d x 406", n200, n406),
		n200 >= 1 and n406 >= 1 and n200 + n406 == 6, table.concat(other, ","))
end

login_liars()
gate_liars()
concurrent()
