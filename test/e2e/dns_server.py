#!/usr/bin/env python3
"""A fake DNS server on 127.0.0.1 for test/e2e/test_dns.sh.

    dns_server.py          prints the UDP port it listens on, then serves

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
  trunc.test      TC set, no answer
  trunca.test     TC set, with A 10.0.0.5
  malformed.test  the header then garbage (an answer running off the end)
  loop.test       an answer whose name is a compression pointer to itself
  tiny.test       a 5-byte packet
  wrongname.test  a reply for another name
  silent.test     no reply at all
  count-NAME      A 0.0.0.N: N = queries seen so far for NAME
"""
import socket
import struct
import sys

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


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1], flush=True)
    while True:
        data, addr = s.recvfrom(4096)
        if len(data) < 12:
            continue
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
            continue
        if name == "tiny.test":
            s.sendto(b"\0\1\2\3\4", addr)
            continue
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
        elif name == "nx.test":
            flags = 0x8183
        elif name == "servfail.test":
            flags = 0x8182
        elif name == "trunc.test":
            flags = 0x8380
        elif name == "trunca.test":
            flags = 0x8380
            answers = [rr(1, 30, bytes([10, 0, 0, 5]))]
        elif name.startswith("count-"):
            answers = [rr(1, 0, bytes([0, 0, 0, counts.get(name[6:], 0)]))]
        if name == "malformed.test":
            pkt = tid + struct.pack("!HHHHH", 0x8180, 1, 3, 0, 0) + question + b"\xc0\x0c\x00\x01\x00"
        elif name == "loop.test":
            off = 12 + len(question)
            pkt = tid + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + \
                struct.pack("!H", 0xc000 | off) + struct.pack("!HHIH", 1, 1, 30, 4) + bytes([1, 1, 1, 1])
        elif name == "wrongname.test":
            q2 = name_bytes("other.test") + struct.pack("!HH", qtype, 1)
            pkt = tid + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + q2 + rr(1, 30, bytes([9, 9, 9, 9]))
        else:
            pkt = tid + struct.pack("!HHHHH", flags, 1, len(answers), 0, 0) + question + b"".join(answers)
        s.sendto(pkt, addr)


if __name__ == "__main__":
    main()
