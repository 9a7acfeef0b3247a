#!/usr/bin/env python3
"""A small RFC 6455 client against examples/simplewebsocket.lua's echo
agents (test/e2e/test_websocket.sh).

    ws_client.py PORT [wss CAFILE]

Prints one PASS/FAIL line per check: the handshake (accept key, error
answers), text/binary echo at every length encoding, fragmentation with
interleaved control frames, ping/pong, the close handshake, and every
protocol violation the server must answer with a close code.  Only
127.0.0.1.
"""
import base64
import hashlib
import os
import socket
import ssl
import struct
import sys

PORT = int(sys.argv[1])
TLS = len(sys.argv) > 2 and sys.argv[2] == "wss"
# ws_client.py PORT upgrade: the early-frame checks against ws_upgrade.lua
HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def check(name, cond, why=""):
    prefix = "wss " if TLS else ""
    print(("PASS " if cond else "FAIL ") + prefix + name + ("" if cond else ": " + str(why)), flush=True)


def connect():
    s = socket.create_connection((HOST, PORT), timeout=5)
    if TLS:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


class Conn:
    def __init__(self, early=b"", headers=None, send_handshake=True):
        self.s = connect()
        self.buf = b""
        if send_handshake:
            self.key = base64.b64encode(os.urandom(16)).decode()
            req = ("GET /test_websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % self.key)
            for k, v in (headers or {}).items():
                req += "%s: %s\r\n" % (k, v)
            self.s.sendall(req.encode() + b"\r\n" + early)
            self.status, self.headers = self.read_head()

    def recv_more(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("closed")
        self.buf += b

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self.recv_more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {}
        for l in lines[1:]:
            k, v = l.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        return lines[0], headers

    def send_frame(self, op, payload=b"", fin=True, mask=True, rsv=0, length=None):
        b0 = (0x80 if fin else 0) | rsv | op
        n = len(payload) if length is None else length
        mbit = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mbit | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload)) if len(payload) < 4096 else \
                _mask_fast(payload, key)
            head += key
        self.s.sendall(head + payload)

    def read_frame(self):
        while len(self.buf) < 2:
            self.recv_more()
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7f
        h = 2
        if n == 126:
            while len(self.buf) < 4:
                self.recv_more()
            n = struct.unpack("!H", self.buf[2:4])[0]
            h = 4
        elif n == 127:
            while len(self.buf) < 10:
                self.recv_more()
            n = struct.unpack("!Q", self.buf[2:10])[0]
            h = 10
        if b1 & 0x80:
            raise ValueError("server frame is masked")
        while len(self.buf) < h + n:
            self.recv_more()
        payload = self.buf[h:h + n]
        self.buf = self.buf[h + n:]
        return b0 & 0x80 != 0, b0 & 0x0f, payload

    def closed_after(self):
        """True if the server closes the connection (no more bytes)."""
        try:
            while True:
                b = self.s.recv(65536)
                if not b:
                    return True
        except (ConnectionResetError, socket.timeout, ssl.SSLError, OSError):
            return True

    def close_code(self):
        """Reads frames until a close frame; returns its code (or None)."""
        while True:
            try:
                fin, op, payload = self.read_frame()
            except (EOFError, ConnectionResetError, OSError):
                return "eof"
            if op == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def _mask_fast(payload, key):
    k = int.from_bytes(key * (len(payload) // 4 + 1), "big")
    k >>= 8 * (len(key * (len(payload) // 4 + 1)) - len(payload))
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


def raw_status(request):
    s = connect()
    s.sendall(request)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (socket.timeout, ConnectionResetError, ssl.SSLError):
        pass
    s.close()
    return out


def early_frame_check(name):
    """The upgrade request and a first (masked) frame in one send: the
    frame must reach the server's reader and be echoed."""
    s = connect()
    key = base64.b64encode(os.urandom(16)).decode()
    frame = bytes([0x81, 0x85, 1, 2, 3, 4]) + bytes(x ^ k for x, k in zip(b"early", [1, 2, 3, 4, 1]))
    s.sendall(("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode() + frame)
    c = Conn(send_handshake=False)
    c.s.close()
    c.s = s
    c.status, c.headers = c.read_head()
    try:
        fin, op, payload = c.read_frame()
    except (EOFError, OSError) as e:
        payload = repr(e)
    check(name, c.status.startswith("HTTP/1.1 101") and payload == b"early", (c.status, payload))
    c.s.close()


def upgrade_main():
    """Against test/e2e/lua/ws_upgrade.lua (httpd first, then accept with
    options.upgrade)."""
    early_frame_check("upgrade path: early frame bundled with the upgrade request echoed")
    c = Conn()
    check("upgrade path: handshake 101", c.status == "HTTP/1.1 101 Switching Protocols", c.status)
    c.send_frame(2, b"\x00bin")
    fin, op, payload = c.read_frame()
    check("upgrade path: echo", op == 2 and payload == b"\x00bin", (op, payload))
    c.s.close()
    out = raw_status(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    check("upgrade path: a plain request is still plain HTTP", out.startswith(b"HTTP/1.1 200") and out.endswith(b"plain /x"), out)


def main():
    c = Conn()
    want = base64.b64encode(hashlib.sha1(c.key.encode() + GUID).digest()).decode()
    check("handshake: 101", c.status == "HTTP/1.1 101 Switching Protocols", c.status)
    check("handshake: Sec-WebSocket-Accept", c.headers.get("sec-websocket-accept") == want, c.headers)
    check("handshake: Upgrade/Connection", c.headers.get("upgrade") == "websocket" and c.headers.get("connection") == "Upgrade", c.headers)

    for n in (0, 5, 125, 126, 300, 65535, 65536, 70000, 262144):
        data = (b"0123456789abcdef" * (n // 16 + 1))[:n]
        c.send_frame(1, data)
        fin, op, payload = c.read_frame()
        check("echo text of %d bytes" % n, fin and op == 1 and payload == data, (fin, op, len(payload)))
    c.send_frame(2, b"\x00\x01\xff")
    fin, op, payload = c.read_frame()
    check("echo binary", op == 2 and payload == b"\x00\x01\xff", (op, payload))
    c.send_frame(1, "héllo wörld ✓".encode())
    fin, op, payload = c.read_frame()
    check("echo UTF-8 text", payload == "héllo wörld ✓".encode(), payload)

    # ping -> pong with the same payload
    c.send_frame(9, b"pi")
    fin, op, payload = c.read_frame()
    check("ping answered by pong with its payload", op == 10 and payload == b"pi", (op, payload))

    # fragmented: text in three frames, a ping in between; a UTF-8 sequence split across frames
    utf = "é✓".encode()
    c.send_frame(1, b"frag-" + utf[:1], fin=False)
    c.send_frame(9, b"mid")
    c.send_frame(0, utf[1:3], fin=False)
    c.send_frame(0, utf[3:] + b"-end", fin=True)
    fin, op, payload = c.read_frame()
    check("fragmented: interleaved ping answered first", op == 10 and payload == b"mid", (op, payload))
    fin, op, payload = c.read_frame()
    check("fragmented: message joined, first fragment's type", op == 1 and payload == b"frag-" + utf + b"-end", (op, payload))

    # close handshake: our code echoed, then the connection ends
    c.send_frame(8, struct.pack("!H", 4000) + b"bye")
    fin, op, payload = c.read_frame()
    check("close: server answers with a close frame echoing 4000", op == 8 and payload[:2] == struct.pack("!H", 4000), (op, payload))
    check("close: then closes the connection", c.closed_after())

    early_frame_check("early frame bundled with the handshake echoed")

    # protocol violations: close code, then the connection ends
    def violation(name, code, send):
        c = Conn()
        send(c)
        got = c.close_code()
        check(name + " -> close %d" % code, got == code, got)
        check(name + ": connection closed", c.closed_after())

    violation("unmasked client frame", 1002, lambda c: c.send_frame(1, b"hello", mask=False))
    violation("reserved opcode 3", 1002, lambda c: c.send_frame(3, b"x"))
    violation("RSV1 bit set", 1002, lambda c: c.send_frame(1, b"x", rsv=0x40))
    violation("ping with 126 bytes", 1002, lambda c: c.send_frame(9, b"p" * 126))
    violation("fragmented ping", 1002, lambda c: c.send_frame(9, b"p", fin=False))
    violation("continuation with nothing to continue", 1002, lambda c: c.send_frame(0, b"x"))
    violation("new message inside a fragmented one", 1002,
              lambda c: (c.send_frame(1, b"a", fin=False), c.send_frame(1, b"b")))
    violation("close with a 1-byte payload", 1002, lambda c: c.send_frame(8, b"\x03"))
    violation("close with code 1005", 1002, lambda c: c.send_frame(8, struct.pack("!H", 1005)))
    violation("frame over 256 KiB (header only)", 1009, lambda c: c.send_frame(2, b"", length=262145))
    violation("fragments over 256 KiB in total", 1009,
              lambda c: [c.send_frame(2 if i == 0 else 0, b"z" * 65536, fin=False) for i in range(5)])
    violation("text frame that is not UTF-8", 1007, lambda c: c.send_frame(1, b"bad \xff\xfe"))
    violation("text with a surrogate (CESU)", 1007, lambda c: c.send_frame(1, b"\xed\xa0\x80"))
    violation("fragmented text that is not UTF-8", 1007,
              lambda c: (c.send_frame(1, b"ok", fin=False), c.send_frame(0, b"\xc3", fin=True)))

    # handshake errors
    def hs(name, request, want):
        out = raw_status(request)
        check("handshake error: " + name, out.startswith(want), out[:80])

    base = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    hs("POST -> 400 need GET method", ("POST / HTTP/1.1\r\n" + base + "Sec-WebSocket-Version: 13\r\n\r\n").encode(),
       b"HTTP/1.1 400 Bad Request\r\ncontent-length: 15\r\n\r\nneed GET method")
    hs("HTTP/1.0 -> 505", ("GET / HTTP/1.0\r\n" + base + "Sec-WebSocket-Version: 13\r\n\r\n").encode(),
       b"HTTP/1.1 505 HTTP Version not supported\r\n\r\n")
    hs("no Upgrade -> 426", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
       b"HTTP/1.1 426 \r\ncontent-length: 16\r\n\r\nUpgrade Required")
    hs("bad key -> 400", ("GET / HTTP/1.1\r\n" + base.replace("dGhlIHNhbXBsZSBub25jZQ==", "short") +
                          "Sec-WebSocket-Version: 13\r\n\r\n").encode(), b"HTTP/1.1 400 Bad Request\r\ncontent-length: 25")
    hs("version 12 -> 400", ("GET / HTTP/1.1\r\n" + base + "Sec-WebSocket-Version: 12\r\n\r\n").encode(),
       b"HTTP/1.1 400 Bad Request\r\ncontent-length: 29\r\n\r\nSec-WebSocket-Version must 13")
    hs("header over 8 KB -> 413", b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
       b"HTTP/1.1 413 Request Entity Too Large\r\n\r\n")
    hs("key vector: dGhlIHNhbXBsZSBub25jZQ==", ("GET / HTTP/1.1\r\n" + base + "Sec-WebSocket-Version: 13\r\n\r\n").encode(),
       b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")

    # a client that vanishes mid-frame, then the server still serves
    c = Conn()
    c.s.sendall(bytes([0x81, 0xfe, 0x01]))
    c.s.close()
    c = Conn()
    c.send_frame(1, b"still")
    fin, op, payload = c.read_frame()
    check("still serving after the bad clients", payload == b"still", payload)
    c.send_frame(8, struct.pack("!H", 1000))
    c.close_code()


if __name__ == "__main__":
    try:
        if len(sys.argv) > 2 and sys.argv[2] == "upgrade":
            upgrade_main()
        else:
            main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("ws_client.py finished", False, repr(e))
