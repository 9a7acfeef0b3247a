"""The KV example's wire format, for Python test clients: sproto messages
(examples/proto.lua) framed by a 2-byte big-endian length.

Written from the wire format, independent of our Lua and C code:
  struct = u16 field count, u16 per field (0: value in the data part;
           even v: the integer v/2 - 1; odd v: skip (v+1)/2 tags), then
           one u32-length-prefixed chunk per data field, in tag order
  message = header struct {type 0, session 1} + body struct, 0-packed
  0-pack  = per 8-byte group a bitmap byte + its non-zero bytes; `ff n`
           + (n+1)*8 raw bytes for groups with no zero byte
The packing made here is valid but not always the canonical one (it never
lets a group with zeros join an ff run); byte-exact checks use the bytes
recorded from upstream instead (RECORDED).
"""
import struct

# protocol tags of proto.c2s / proto.s2c
HANDSHAKE, GET, SET, QUIT = 1, 2, 3, 4
HEARTBEAT = 1

WELCOME = b"Welcome to skynet, I will send heartbeat every 5 sec."

# Frames recorded from upstream's example (length prefix included).
RECORDED = {
    "handshake": bytes.fromhex("0004 15020404"),
    "set hello world": bytes.fromhex("0014 5502080602100 53f68656c6c6f053e776f726c64".replace(" ", "")),
    "get hello": bytes.fromhex("000d 550206080 1c405686507 6c6c6f".replace(" ", "")),
    "quit": bytes.fromhex("0004 15020a0a"),
    # server -> client
    "welcome": bytes.fromhex("003f 5502010401c4355765ff05") + WELCOME[2:50] + bytes.fromhex("0765632e"),
    "set done": bytes.fromhex("0004 15020106"),
    "result world": bytes.fromhex("000d 5502010801c405776f07726c64"),
    "heartbeat": bytes.fromhex("0003 050104"),
}


def encode_struct(fields):
    """fields: {tag: int | bytes} -> unpacked struct bytes."""
    slots, data, last = [], b"", -1
    for tag in sorted(fields):
        gap = tag - last - 1
        if gap > 0:
            slots.append(2 * gap - 1)
        v = fields[tag]
        if isinstance(v, int) and 0 <= v <= 0x7ffe:
            slots.append((v + 1) * 2)
        elif isinstance(v, int):
            slots.append(0)
            data += struct.pack("<Iq", 8, v)
        else:
            slots.append(0)
            data += struct.pack("<I", len(v)) + v
        last = tag
    return struct.pack("<H%dH" % len(slots), len(slots), *slots) + data


def decode_struct(buf, strings=()):
    """-> ({tag: int | bytes}, bytes used).  Tags in `strings` are kept as
    bytes; other data fields of 4 or 8 bytes are read as integers."""
    (n,) = struct.unpack_from("<H", buf, 0)
    slots = struct.unpack_from("<%dH" % n, buf, 2)
    pos, tag, out = 2 + 2 * n, 0, {}
    for v in slots:
        if v & 1:
            tag += (v + 1) // 2
            continue
        if v:
            out[tag] = v // 2 - 1
        else:
            (size,) = struct.unpack_from("<I", buf, pos)
            chunk = bytes(buf[pos + 4:pos + 4 + size])
            if len(chunk) != size:
                raise ValueError("data runs past the end")
            pos += 4 + size
            if tag in strings or size not in (4, 8):
                out[tag] = chunk
            else:
                out[tag] = struct.unpack("<i" if size == 4 else "<q", chunk)[0]
        tag += 1
    return out, pos


def pack(raw):
    raw = bytes(raw) + b"\0" * (-len(raw) % 8)
    out, i = bytearray(), 0
    while i < len(raw):
        group = raw[i:i + 8]
        if all(group):
            n = 1
            while n < 256 and i + 8 * n < len(raw) and all(raw[i + 8 * n:i + 8 * n + 8]):
                n += 1
            out += bytes([0xff, n - 1]) + raw[i:i + 8 * n]
            i += 8 * n
            continue
        out.append(sum(1 << k for k, b in enumerate(group) if b))
        out += bytes(b for b in group if b)
        i += 8
    return bytes(out)


def unpack(packed):
    out, i = bytearray(), 0
    while i < len(packed):
        h = packed[i]
        i += 1
        if h == 0xff:
            n = (packed[i] + 1) * 8
            out += packed[i + 1:i + 1 + n]
            i += 1 + n
        else:
            for k in range(8):
                if h & (1 << k):
                    out.append(packed[i])
                    i += 1
                else:
                    out.append(0)
    return bytes(out)


def frame(body):
    return struct.pack(">H", len(body)) + body


def request(tag, session=None, args=None):
    """A framed request: tag, optional session, body {field tag: value}."""
    header = {0: tag}
    if session is not None:
        header[1] = session
    raw = encode_struct(header)
    if args is not None:
        raw += encode_struct(args)
    return frame(pack(raw))


def get(session, what):
    return request(GET, session, {0: what})


def set_(session, what, value):
    return request(SET, session, {0: what, 1: value})


def parse(packed):
    """A message from the server -> ("REQUEST", tag, body bytes) or
    ("RESPONSE", session, body bytes); body = the rest after the header."""
    raw = unpack(packed)
    header, used = decode_struct(raw)
    if 0 in header:
        return "REQUEST", header[0], raw[used:]
    return "RESPONSE", header.get(1), raw[used:]


def get_result(body):
    """The `result` of a get response body (b"" body: None)."""
    if not body.strip(b"\0"):
        return None
    fields, _ = decode_struct(body, strings=(0,))
    return fields.get(0)


class Reader:
    """Cuts frames out of a socket's byte stream."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def frame(self, raw=False):
        """Next frame body (raw: with its length prefix); None on close."""
        while True:
            if len(self.buf) >= 2:
                (n,) = struct.unpack(">H", self.buf[:2])
                if len(self.buf) >= 2 + n:
                    f, self.buf = self.buf[:2 + n], self.buf[2 + n:]
                    return f if raw else f[2:]
            d = self.sock.recv(65536)
            if not d:
                return None
            self.buf += d

    def response(self):
        """Next response as (session, body), skipping heartbeats; None on close."""
        while True:
            f = self.frame()
            if f is None:
                return None
            kind, x, body = parse(f)
            if kind == "RESPONSE":
                return x, body


def selftest():
    """The spec's vectors, checked against this module's own coder."""
    assert unpack(bytes.fromhex("15020404")) == bytes.fromhex("0200040004000000")
    assert request(HANDSHAKE, 1) == RECORDED["handshake"]
    assert request(QUIT, 4) == RECORDED["quit"]
    assert set_(2, b"hello", b"world")[2:] == bytes.fromhex("5502080602100 53f68656c6c6f053e776f726c64".replace(" ", ""))
    assert get(3, b"hello") == RECORDED["get hello"], get(3, b"hello").hex()
    k, s, body = parse(RECORDED["result world"][2:])
    assert (k, s, get_result(body)) == ("RESPONSE", 3, b"world")
    k, s, body = parse(RECORDED["welcome"][2:])
    assert (k, s, decode_struct(body, (0,))[0]) == ("RESPONSE", 1, {0: WELCOME})
    assert parse(RECORDED["heartbeat"][2:])[:2] == ("REQUEST", HEARTBEAT)
    assert parse(bytes.fromhex("1502010a")) == ("RESPONSE", 4, bytes(2)) and get_result(bytes(2)) is None
    assert len(RECORDED["welcome"]) == 65


if __name__ == "__main__":
    selftest()
    print("kv_sproto selftest ok")
