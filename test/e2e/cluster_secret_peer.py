#!/usr/bin/env python3
"""cluster_secret_peer.py -- the cluster secret handshake (config key
`cluster_secret`) written from README.md's description alone (Python's own
hmac/hashlib, no code shared with the node), for test/e2e/test_cluster_secret.sh.
Frames and skynet.pack come from cluster_peer.py.

  cluster_secret_peer.py nohandshake HOST PORT
        connect to a listener that has a secret, read its challenge, then
        send a push and a request as a peer without the secret would: the
        listener must close the connection without answering anything
  cluster_secret_peer.py call HOST PORT SECRET COUNT
        do the handshake right, check the listener's proof, then call
        "@echo": echo, and count (must be COUNT: what was pushed before)
  cluster_secret_peer.py replay HOST PORT SECRET
        record a right answer on one connection, replay it on a new one:
        refused ("bad cluster secret"), nothing served
  cluster_secret_peer.py reflect HOST PORT SECS
        a fake listener (no secret): challenges the node that connects and
        sends its own proof back as ours; the node must close the
        connection without sending a request

Prints "OK ..." on success, "FAIL ..." otherwise (exit status 1).
"""
import hashlib
import hmac
import os
import socket
import struct
import sys

from cluster_peer import check, closed_by_peer, connect, frame, pack, read_response, recv_frame, request, unpack

CHALLENGE = b"cluster_secret required; challenge "
TAG_ANSWER = 0x05


def mac(secret, role, ns, nc):
    return hmac.new(secret.encode(), b"skynet-cluster-" + role + ns + nc, hashlib.sha256).digest()


def read_challenge(s):
    body = recv_frame(s)
    session, t = struct.unpack("<IB", body[:5])
    text = body[5:]
    check(session == 0 and t == 0 and text.startswith(CHALLENGE),
          "the listener's first frame is the challenge (session 0, error, %r...): got %r" % (CHALLENGE, body[:60]))
    ns = bytes.fromhex(text[len(CHALLENGE):].decode())
    check(len(ns) == 16, "the challenge's nonce is 16 bytes (%d)" % len(ns))
    return ns


def answer(secret, ns):
    nc = os.urandom(16)
    return nc, frame(bytes([TAG_ANSWER]) + nc + mac(secret, b"client", ns, nc))


def expect_refused(s, what):
    """the listener answers 'bad cluster secret' (session 0) and closes"""
    s.settimeout(10)
    body = recv_frame(s)
    check(body == struct.pack("<IB", 0, 0) + b"bad cluster secret", "%s: the refusal frame: %r" % (what, body))
    check(closed_by_peer(s, 10) is not None, "%s: then the listener closes" % what)


def mode_nohandshake(host, port):
    s = connect(host, port)
    read_challenge(s)
    s.sendall(request("@echo", 0, pack("push", "not served"), push=True) + request("@echo", 1, pack("echo", "x")))
    s.settimeout(10)
    got = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except ConnectionResetError:
        pass
    except socket.timeout:
        check(False, "nohandshake: the listener did not close the connection within 10 s")
    check(got == b"", "nohandshake: nothing answered after the challenge (got %r)" % got[:40])
    print("OK a peer that skipped the handshake got the challenge, then the connection closed, nothing answered")


def handshake(s, secret):
    ns = read_challenge(s)
    nc, ans = answer(secret, ns)
    s.sendall(ans)
    body = recv_frame(s)
    check(body[:5] == struct.pack("<IB", 0, 1), "the verdict is an OK response with session 0: %r" % body[:40])
    check(hmac.compare_digest(body[5:], mac(secret, b"server", ns, nc)), "the listener's proof is HMAC(secret, server label, ns, nc)")
    return ans


def mode_call(host, port, secret, count):
    s = connect(host, port)
    handshake(s, secret)
    s.sendall(request("@echo", 1, pack("echo", "with the secret")))
    session, ok, data = read_response(s)
    check(session == 1 and ok and unpack(data) == [b"with the secret"], "call after the handshake: %r" % data)
    s.sendall(request("@echo", 2, pack("count")))
    session, ok, data = read_response(s)
    check(session == 2 and ok and unpack(data) == [count], "count of pushes served is %d: %r" % (count, data))
    s.close()
    print("OK python peer with the secret: handshake (both proofs checked), a call, count %d" % count)


def mode_replay(host, port, secret):
    s = connect(host, port)
    recorded = handshake(s, secret)
    s.close()
    s = connect(host, port)
    read_challenge(s)
    s.sendall(recorded + request("@echo", 1, pack("echo", "replayed")))
    expect_refused(s, "replay")
    print("OK a recorded answer replayed on a new connection is refused, nothing served")


def mode_reflect(host, port, secs):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4)
    print("LISTENING", flush=True)
    ls.settimeout(secs)
    try:
        conn, _ = ls.accept()
    except socket.timeout:
        check(False, "reflect: nobody connected")
    conn.settimeout(10)
    ns = os.urandom(16)
    conn.sendall(frame(struct.pack("<IB", 0, 0) + CHALLENGE + ns.hex().encode()))
    body = recv_frame(conn)
    check(len(body) == 49 and body[0] == TAG_ANSWER, "reflect: the node answered the challenge: %r" % body[:10])
    # send its own proof back as if it were ours
    conn.sendall(frame(struct.pack("<IB", 0, 1) + body[17:]))
    got = b""
    try:
        while True:
            d = conn.recv(4096)
            if not d:
                break
            got += d
    except ConnectionResetError:
        pass
    except socket.timeout:
        check(False, "reflect: the node did not close the connection")
    check(got == b"", "reflect: the node sent nothing more (no request): %r" % got[:40])
    print("OK reflect: the node refused its own proof sent back and sent no request")


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "nohandshake":
        mode_nohandshake(host, port)
    elif mode == "call":
        mode_call(host, port, sys.argv[4], int(sys.argv[5]))
    elif mode == "replay":
        mode_replay(host, port, sys.argv[4])
    elif mode == "reflect":
        mode_reflect(host, port, float(sys.argv[4]))
    else:
        print("FAIL unknown mode " + mode)
        sys.exit(2)


if __name__ == "__main__":
    try:
        main()
    except (EOFError, ConnectionError, socket.timeout, ValueError) as e:
        print("FAIL %s: %s" % (sys.argv[1], e))
        sys.exit(1)
