#!/usr/bin/env python3
"""harbor_peer.py -- a harbor master and slave written from upstream's wire
formats alone (harbor packets and frames, the skynet.pack serialization), for
test/e2e/test_harbor.sh.  Prints one "PASS <name>" or "FAIL <name>: <why>"
line per check.

  harbor_peer.py selftest
        the encoders below against the spec's dumps
  harbor_peer.py probe MASTER_PORT SLAVE_PORT NODE_PORT SECS
        act as the master of one node (harbor 2, role "probe" of
        test/e2e/lua/harbor_node.lua, slave port NODE_PORT) and as a second
        slave, harbor 9: check every byte the node sends, then misbehave
  harbor_peer.py badmaster PORT
        malformed handshakes and packets against a real master
  harbor_peer.py badslave MASTER_PORT SLAVE_PORT NSLAVES SECS
        join a real master as harbor 9, then misbehave on the connections
        the NSLAVES nodes open to it
"""
import socket
import struct
import sys
import time

# ---------------------------------------------------------- skynet.pack


def pack_value(v):
    if isinstance(v, int):
        if v == 0:
            return b"\x02"
        if v < -(1 << 31) or v > (1 << 31) - 1:
            return b"\x32" + struct.pack("<q", v)
        if v < 0:
            return b"\x22" + struct.pack("<i", v)
        if v < 0x100:
            return b"\x0a" + bytes([v])
        if v < 0x10000:
            return b"\x12" + struct.pack("<H", v)
        return b"\x22" + struct.pack("<i", v)
    b = v.encode() if isinstance(v, str) else v
    n = len(b)
    if n < 32:
        return bytes([4 + 8 * n]) + b
    if n < 0x10000:
        return b"\x15" + struct.pack("<H", n) + b
    return b"\x25" + struct.pack("<I", n) + b


def pack(*vals):
    return b"".join(pack_value(v) for v in vals)


def unpack(data):
    out, i = [], 0
    while i < len(data):
        tag = data[i]
        i += 1
        t, c = tag & 7, tag >> 3
        if t == 0:
            out.append(None)
        elif t == 1:
            out.append(bool(c))
        elif t == 2:
            size = {0: 0, 1: 1, 2: 2, 4: 4, 6: 8}[c]
            fmt = {0: None, 1: "<B", 2: "<H", 4: "<i", 6: "<q"}[c]
            out.append(0 if size == 0 else struct.unpack(fmt, data[i:i + size])[0])
            i += size
        elif t == 4:
            out.append(data[i:i + c].decode("latin-1"))
            i += c
        elif t == 5:
            w = 2 if c == 2 else 4
            n = struct.unpack("<H" if w == 2 else "<I", data[i:i + w])[0]
            i += w
            out.append(data[i:i + n].decode("latin-1"))
            i += n
        else:
            raise ValueError("unsupported tag %02x" % tag)
    return out


# ------------------------------------------------------- harbor framing


def packet(kind, *args):
    body = pack(kind, *args)
    assert len(body) <= 255
    return bytes([len(body)]) + body


def frame(payload, source, ptype, dest, session):
    return struct.pack(">I", len(payload) + 12) + payload + struct.pack(
        ">III", source, (ptype << 24) | (dest & 0xFFFFFF), session)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_packet(s):
    n = recv_exact(s, 1)[0]
    raw = recv_exact(s, n)
    return bytes([n]) + raw, unpack(raw)


def read_frame(s):
    head = recv_exact(s, 4)
    (length,) = struct.unpack(">I", head)
    body = recv_exact(s, length)
    source, td, session = struct.unpack(">III", body[-12:])
    return head + body, body[:-12], source, td >> 24, td & 0xFFFFFF, session


def closed_by_peer(s, secs=5):
    """True when the peer closes the connection within secs."""
    s.settimeout(secs)
    try:
        while True:
            if not s.recv(4096):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


results = []


def check(name, cond, why=""):
    results.append(bool(cond))
    print(("PASS %s" % name) if cond else ("FAIL %s: %s" % (name, why)), flush=True)
    return cond


def hexs(b):
    return b.hex(" ")


# ------------------------------------------------------------ selftest


def selftest():
    vectors = [
        (packet("H", 2, "127.0.0.1:27527"), "14 0c 48 0a 02 7c 31 32 37 2e 30 2e 30 2e 31 3a 32 37 35 32 37"),
        (packet("W", 1), "04 0c 57 0a 01"),
        (packet("R", "REMOTEN", 0x02000020), "0f 0c 52 3c 52 45 4d 4f 54 45 4e 22 20 00 00 02"),
        (packet("N", "GNAME", 0x01000009), "0d 0c 4e 2c 47 4e 41 4d 45 22 09 00 00 01"),
        (packet("Q", "REMOTEN"), "0a 0c 51 3c 52 45 4d 4f 54 45 4e"),
        (packet("D", 2), "04 0c 44 0a 02"),
        (frame(pack("hello", 1), 0x01000009, 10, 0x02000010, 0),
         "00 00 00 14 2c 68 65 6c 6c 6f 0a 01 01 00 00 09 0a 00 00 10 00 00 00 00"),
        (frame(pack("pong"), 0x02000011, 1, 0x01000009, 4),
         "00 00 00 11 24 70 6f 6e 67 02 00 00 11 01 00 00 09 00 00 00 04"),
        (frame(b"", 0x02000012, 7, 0x01000009, 7), "00 00 00 0c 02 00 00 12 07 00 00 09 00 00 00 07"),
    ]
    bad = [hexs(got) for got, want in vectors if hexs(got) != want]
    check("harbor peer: the Python encoders reproduce the spec's dumps", not bad, "; ".join(bad))


# --------------------------------------------------------------- probe


def probe(master_port, slave_port, node_port, secs):
    ms = socket.socket()
    ms.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ms.bind(("127.0.0.1", master_port))
    ms.listen(4)
    ms.settimeout(secs)
    print("peer listening", flush=True)
    m, _ = ms.accept()
    m.settimeout(secs)
    node_addr = "127.0.0.1:%d" % node_port
    raw, vals = read_packet(m)
    check("harbor peer: the node's handshake is H(2, address), byte for byte",
          raw == packet("H", 2, node_addr), hexs(raw))
    # one slave (us, harbor 9) will connect: W(1)
    m.sendall(packet("W", 1))
    # first a connection with a bad id byte: the node must close it
    bad = socket.create_connection(("127.0.0.1", node_port), timeout=secs)
    bad.sendall(b"\x00")
    check("harbor peer: an accepted connection announcing id 0 is closed", closed_by_peer(bad))
    bad.close()
    p = socket.create_connection(("127.0.0.1", node_port), timeout=secs)
    p.sendall(b"\x09")
    got = recv_exact(p, 1)
    check("harbor peer: the node answers our id byte with its own (02)", got == b"\x02", hexs(got))
    # the node's service_mgr calls the global SERVICE (REPORT) while booting:
    # we play it, at :09000020 (answered in next_frame)
    m.sendall(packet("N", "SERVICE", 0x09000020))
    m.sendall(packet("N", "GNAME", 0x01000009))

    def next_frame():
        while True:
            f = read_frame(p)
            if f[4] == 0x20 and f[5] != 0:
                p.sendall(frame(b"", 0x09000020, 1, f[2], f[5]))
                continue
            return f

    f = read_frame(p)
    check("harbor peer: the node's service_mgr calls SERVICE (:09000020) over the link",
          f[4] == 0x20 and f[3] == 10 and f[5] != 0, repr(f[1:]))
    p.sendall(frame(b"", 0x09000020, 1, f[2], f[5]))

    # the node registers PYECHO and asks for NOSUCH (in either order)
    echo, asked = None, False
    while echo is None or not asked:
        raw, vals = read_packet(m)
        if vals[0] == "Q" and vals[1] != "NOSUCH":
            continue  # other names the node's standard services look up (SERVICE)
        if vals[0] == "R":
            echo = vals[2]
            check("harbor peer: R(PYECHO, handle) byte for byte",
                  vals[1] == "PYECHO" and raw == packet("R", "PYECHO", echo), hexs(raw))
        elif vals[0] == "Q":
            asked = check("harbor peer: Q(NOSUCH) byte for byte", raw == packet("Q", "NOSUCH"), hexs(raw))
        else:
            check("harbor peer: R or Q expected", False, repr(vals))
            return
    if echo is None:
        return
    # the node sends "lua" ("hello", 1) to :09000010
    raw, payload, source, ptype, dest, session = next_frame()
    check("harbor peer: a send to :09000010 arrives as the spec's frame",
          raw == frame(pack("hello", 1), source, 10, 0x09000010, 0) and source >> 24 == 2, hexs(raw))
    # we call PYECHO: "echo", "ping" with session 4
    p.sendall(frame(pack("echo", "ping"), 0x09000011, 10, echo, 4))
    raw, payload, source, ptype, dest, session = next_frame()
    check("harbor peer: the answer to our call is the spec's response frame",
          raw == frame(pack("ping"), echo, 1, 0x09000011, 4), hexs(raw))
    # a call to a handle that does not exist: PTYPE_ERROR back, empty payload
    p.sendall(frame(pack("x"), 0x09000012, 10, 0x02FFFFF0, 7))
    raw, payload, source, ptype, dest, session = next_frame()
    check("harbor peer: a message to an unknown handle gets the spec's error frame",
          raw[:4] == b"\x00\x00\x00\x0c" and raw == frame(payload, 0x02FFFFF0, 7, 0x09000012, 7) and payload == b"",
          hexs(raw))
    # a frame split byte by byte still arrives
    data = frame(pack("echo", "split"), 0x09000013, 10, echo, 5)
    for i in range(len(data)):
        p.sendall(data[i:i + 1])
        time.sleep(0.001)
    raw, payload, source, ptype, dest, session = next_frame()
    check("harbor peer: a frame sent one byte at a time is answered",
          raw == frame(pack("split"), echo, 1, 0x09000013, 5), hexs(raw))
    # a length prefix with a non-zero top byte: the node closes the link
    p.sendall(b"\x01\x00\x00\x00" + b"x" * 64)
    check("harbor peer: a frame length over 16 MiB closes the link", closed_by_peer(p))
    p.close()
    time.sleep(0.2)
    m.close()
    ms.close()


# ----------------------------------------------------------- badmaster


def badmaster(port):
    cases = [
        ("garbage text", b"GET / HTTP/1.0\r\n\r\n" + b"x" * 80),
        ("a packet that is not H", packet("Q", "ECHO")),
        ("H with id 0", packet("H", 0, "127.0.0.1:1")),
        ("H with id 300", packet("H", 300, "127.0.0.1:1")),
        ("H with a taken id", packet("H", 2, "127.0.0.1:1")),
        ("an undecodable packet", b"\x03\xff\xff\xff"),
        ("an empty packet", b"\x00"),
        ("H without an address", packet("H", 77)),
    ]
    for name, data in cases:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(data)
        check("harbor master: %s closes the connection" % name, closed_by_peer(s))
        s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"\x20" + b"abc")  # a packet cut short
    s.close()


# ------------------------------------------------------------ badslave


def badslave(master_port, slave_port, nslaves, secs):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", slave_port))
    ls.listen(8)
    ls.settimeout(secs)
    m = socket.create_connection(("127.0.0.1", master_port), timeout=secs)
    m.sendall(packet("H", 9, "127.0.0.1:%d" % slave_port))
    raw, vals = read_packet(m)
    check("harbor master: W(n) answers a good handshake", vals == ["W", nslaves], repr(vals))
    conns = {}
    for _ in range(nslaves):
        c, _ = ls.accept()
        c.settimeout(secs)
        ident = recv_exact(c, 1)[0]
        conns[ident] = c
    check("harbor slaves: every node connects to the new harbor and sends its id byte",
          sorted(conns) == list(range(1, nslaves + 1)), repr(sorted(conns)))
    if 1 in conns:
        conns[1].sendall(b"\x08")  # not the id the node expects
        check("harbor slave: a wrong handshake id closes the link (node 1)", closed_by_peer(conns[1]))
    if 2 in conns:
        conns[2].sendall(b"\x09" + b"\xff\xff\xff\xff" + b"junk")
        check("harbor slave: a frame length over 16 MiB closes the link (node 2)", closed_by_peer(conns[2]))
    if 3 in conns:
        c = conns[3]
        c.sendall(b"\x09")
        c.sendall(frame(b"", 0x09000001, 10, 0x03FFFFF0, 3))
        raw, payload, source, ptype, dest, session = read_frame(c)
        check("harbor slave: a call to an unknown handle is answered with an error frame (node 3)",
              raw == frame(b"", 0x03FFFFF0, 7, 0x09000001, 3), hexs(raw))
        c.sendall(b"\x00\x00\x00\x05hello")
        check("harbor slave: a frame length under 12 closes the link (node 3)", closed_by_peer(c))
    for c in conns.values():
        c.close()
    m.close()
    ls.close()


def main():
    mode = sys.argv[1]
    try:
        if mode == "selftest":
            selftest()
        elif mode == "probe":
            probe(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
        elif mode == "badmaster":
            badmaster(int(sys.argv[2]))
        elif mode == "badslave":
            badslave(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    except Exception as e:  # a broken exchange is one failed check, not a traceback
        check("harbor peer (%s): exchange completed" % mode, False, "%s: %s" % (type(e).__name__, e))
    sys.exit(0 if all(results) else 1)


main()
