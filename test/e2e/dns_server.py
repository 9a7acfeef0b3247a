#!/usr/bin/env python3
"""A fake DNS server on 127.0.0.1 for test/e2e/test_dns.sh.

    dns_server.py          prints the port P it listens on, then serves

On port P of three loopback addresses:
  127.0.0.1  UDP and TCP: the answers below
  127.0.0.2  UDP: silent (counts the query, never answers)
  127.0.0.3  UDP: REFUSED to every query

Answers by name (case-insensitive):
  a.test          A 1.2.3.4, 5.6.7.8  TTL 60 (two records, compressed names)
  short.test      A 10.0.0.1          TTL 1
  ttl0.test       A 10.0.0.2          TTL 0
  both.test       A 10.0.0.3 and AAAA 2001:db8::3 in one reply, whatever was asked
  v6.test         AAAA 2001:db8::1 (an A question gets an empty answer)
  cname.test      CNAME x.test, then A 10.0.0.4
  web.test        A 127.0.0.1
  nx.test         NXDOMAIN
  servfail.test   SERVFAIL
  empty.test      NOERROR, no answer
  trunc.test      UDP: TC set, no answer; TCP: A 10.0.0.8
  trunca.test     UDP: TC set, with A 10.0.0.5; TCP: A 10.0.0.5, 10.0.0.55
  truncnotcp.test UDP: TC set, with A 10.0.0.9; TCP: closed without an answer
  truncsilent.test UDP: TC set, no answer; TCP: never answers
  srch.test       A 10.0.0.6      (the search-list checks)
  srch.other.test A 10.0.0.7
  onlyother.other.test  A 10.0.0.10
  malformed.test  the header then garbage (an answer running off the end)
  loop.test       an answer whose name is a compression pointer to itself
  tiny.test       a 5-byte packet
  wrongname.test  a reply for another name
  silent.test     no reply at all
  count-NAME      A 0.0.0.N: N = queries seen so far for NAME (all
                  addresses, UDP and TCP)
  any other name  NOERROR, no answer
"""
import socket
import struct
import sys
import threading

counts = {}


def name_bytes(name):
    out = b""
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(rtype, ttl, rdata):
    return b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def v6(text):
    return socket.inet_pton(socket.AF_INET6, text)


def answer(data, tcp):
    """The reply to one query: bytes, None (no reply) or "close"."""
    if len(data) < 12:
        return None
    tid = data[:2]
    pos = 12
    labels = []
    while data[pos] != 0:
        n = data[pos]
        labels.append(data[pos + 1:pos + 1 + n].decode())
        pos += 1 + n
    qtype = struct.unpack("!H", data[pos + 1:pos + 3])[0]
    question = data[12:pos + 5]
    name = ".".join(labels).lower()
    counts[name] = counts.get(name, 0) + 1
    flags, answers = 0x8180, []
    if name == "silent.test":
        return None
    if name == "tiny.test":
        return b"\0\1\2\3\4"
    if name == "a.test" and qtype == 1:
        answers = [rr(1, 60, bytes([1, 2, 3, 4])), rr(1, 60, bytes([5, 6, 7, 8]))]
    elif name == "short.test" and qtype == 1:
        answers = [rr(1, 1, bytes([10, 0, 0, 1]))]
    elif name == "ttl0.test" and qtype == 1:
        answers = [rr(1, 0, bytes([10, 0, 0, 2]))]
    elif name == "both.test":
        answers = [rr(1, 30, bytes([10, 0, 0, 3])), rr(28, 30, v6("2001:db8::3"))]
    elif name == "v6.test" and qtype == 28:
        answers = [rr(28, 30, v6("2001:db8::1"))]
    elif name == "cname.test":
        answers = [rr(5, 30, name_bytes("x.test")), rr(1, 30, bytes([10, 0, 0, 4]))]
    elif name == "web.test" and qtype == 1:
        answers = [rr(1, 30, bytes([127, 0, 0, 1]))]
    elif name == "srch.test" and qtype == 1:
        answers = [rr(1, 30, bytes([10, 0, 0, 6]))]
    elif name == "srch.other.test" and qtype == 1:
        answers = [rr(1, 30, bytes([10, 0, 0, 7]))]
    elif name == "onlyother.other.test" and qtype == 1:
        answers = [rr(1, 30, bytes([10, 0, 0, 10]))]
    elif name == "nx.test":
        flags = 0x8183
    elif name == "servfail.test":
        flags = 0x8182
    elif name == "trunc.test":
        if tcp:
            answers = [rr(1, 30, bytes([10, 0, 0, 8]))]
        else:
            flags = 0x8380
    elif name == "trunca.test":
        if tcp:
            answers = [rr(1, 30, bytes([10, 0, 0, 5])), rr(1, 30, bytes([10, 0, 0, 55]))]
        else:
            flags = 0x8380
            answers = [rr(1, 30, bytes([10, 0, 0, 5]))]
    elif name == "truncnotcp.test":
        if tcp:
            return "close"
        flags = 0x8380
        answers = [rr(1, 30, bytes([10, 0, 0, 9]))]
    elif name == "truncsilent.test":
        if tcp:
            return None
        flags = 0x8380
    elif name.startswith("count-"):
        answers = [rr(1, 0, bytes([0, 0, 0, counts.get(name[6:], 0)]))]
    if name == "malformed.test":
        return tid + struct.pack("!HHHHH", 0x8180, 1, 3, 0, 0) + question + b"\xc0\x0c\x00\x01\x00"
    if name == "loop.test":
        off = 12 + len(question)
        return tid + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + \
            struct.pack("!H", 0xc000 | off) + struct.pack("!HHIH", 1, 1, 30, 4) + bytes([1, 1, 1, 1])
    if name == "wrongname.test":
        q2 = name_bytes("other.test") + struct.pack("!HH", qtype, 1)
        return tid + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + q2 + rr(1, 30, bytes([9, 9, 9, 9]))
    return tid + struct.pack("!HHHHH", flags, 1, len(answers), 0, 0) + question + b"".join(answers)


def serve_udp(s, mode):
    while True:
        data, addr = s.recvfrom(4096)
        if mode == "silent":
            answer(data, False)  # counted only
            continue
        if mode == "refused":
            if len(data) >= 12:
                s.sendto(data[:2] + struct.pack("!H", 0x8185) + data[4:], addr)
            continue
        pkt = answer(data, False)
        if isinstance(pkt, bytes):
            s.sendto(pkt, addr)


def recv_exact(c, n):
    out = b""
    while len(out) < n:
        b = c.recv(n - len(out))
        if not b:
            return None
        out += b
    return out


def serve_tcp_conn(c):
    held = []
    try:
        while True:
            head = recv_exact(c, 2)
            if head is None:
                return
            data = recv_exact(c, struct.unpack("!H", head)[0])
            if data is None:
                return
            pkt = answer(data, True)
            if pkt == "close":
                return
            if pkt is None:
                held.append(c)  # never answered: the client gives up
                while c.recv(4096):
                    pass
                return
            c.sendall(struct.pack("!H", len(pkt)) + pkt)
    except OSError:
        pass
    finally:
        c.close()


def serve_tcp(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_tcp_conn, args=(c,), daemon=True).start()


def bind_all():
    """Port P free on 127.0.0.1 (UDP, TCP), 127.0.0.2 and 127.0.0.3 (UDP)."""
    for _ in range(50):
        socks = []
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(u)
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(t)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(("127.0.0.1", port))
            t.listen(16)
            others = []
            for ip in ("127.0.0.2", "127.0.0.3"):
                o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(o)
                o.bind((ip, port))
                others.append(o)
            return port, u, t, others[0], others[1]
        except OSError:
            for x in socks:
                x.close()
    raise SystemExit("dns_server.py: no free port on 127.0.0.1-3")


def main():
    port, udp, tcp, silent, refused = bind_all()
    threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
    threading.Thread(target=serve_udp, args=(silent, "silent"), daemon=True).start()
    threading.Thread(target=serve_udp, args=(refused, "refused"), daemon=True).start()
    print(port, flush=True)
    serve_udp(udp, "answer")


if __name__ == "__main__":
    main()
