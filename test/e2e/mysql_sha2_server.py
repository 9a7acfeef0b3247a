#!/usr/bin/env python3
"""A scripted MySQL-protocol server for the authentication paths Debian 12's
MariaDB does not have (caching_sha2_password, sha256_password), used by
test/e2e/test_mysql.sh.  Pure standard library.

    python3 mysql_sha2_server.py      prints "PORT <n>" and serves until killed

Users (all passwords are "<user>-pw"):
    fast      caching_sha2_password, scramble accepted: 0x01 0x03 then OK
    full      caching_sha2_password, scramble accepted but "not cached":
              0x01 0x04; the client asks for the key (0x02), gets
              0x01 + PEM, sends the password XOR nonce, RSA-OAEP encrypted
    switch    two auth switches: to mysql_native_password, then back to
              caching_sha2_password with a new nonce (fast path)
    tonative  an auth switch to mysql_native_password
    sha256    an auth switch to sha256_password: the client asks for the
              key (0x01), gets 0x01 + PEM, sends the ciphertext
    nopw      caching_sha2_password with the empty password ("" not "-pw")
    pkcs1     as full, but the key is sent in its PKCS#1 form
              ("BEGIN RSA PUBLIC KEY")
    badkey    as full, but the key sent is cut short (a malformed DER): the
              client must give up with "server public key unusable"
Anything else, or a wrong password: ERR 1045 (28000).

After login: COM_QUERY "select path" returns one row, one column `path`,
naming the way the login went (e.g. "full:key-requested"); any other query
returns an OK packet; COM_PING -> OK; COM_QUIT closes.

The RSA key below is a throwaway test key generated for this file; it
protects nothing.
"""
import base64
import hashlib
import os
import socketserver
import struct
import sys

N = int(
    "8be64d87aebaca421cca6df14a01f13d0240c3a44384d2f3ddb31f3e72944774b58d0e7e1a2a6f3558be69001d97940092d5765f4a1e"
    "7c7bd25bf3bb7e3959ae9c662f816fdf971a5037b613dd855caaff6760c53b5eb30af71f2ff35689577b9811da80fbc4f3e5ba2b458ba40d"
    "6480dc7ec141900a4f01ef941df6294dffc0b967e553417379b3647b28793f1056c78cdb3a8c58381a592d42a8677d56767b74194cacbc54"
    "a2c9a5d4ec6ba443482ef9c43105ae68e631dc5c0b854785ced6a865fd9d7874210b186887eb428c2abebd0ff77e6bd0adc00651ef72334c"
    "d0a8df17aefd46c517651b9e515a113b2c673f0dcadb25326af1be5a3945163d4c2d", 16)
D = int(
    "1fe684074c708b6e47e260ef8450ad119c51e84aac9abcff9eae1991c3cecbfc70e9994467f30528c4f3a63dc081afddf19d7b407f4634"
    "5c87bb2ff8b0efa2e38e063f0ee4d3b740e8c9cb5afc484cb93144016cf7fcc016e002dc8c404f51037dc9946994ff741e0e358fc627c266"
    "087c3eeb126825f19e1f6346f1bab96e77cd6bc6c456529d68ae7853e0c9fad5e5219decffbf93707309637d268f4c732bf7639b65dc64e3"
    "73a2662266b07f9e25fc709ac48d5ad293e73852c34eab813987372b15ff6c3d756252172fe9bda99af3618f3bca258fa70d75dc90cd372e"
    "ea173e12f82b94f45a967732af5a65f7d2f0a70e355403049b5105aed4b0402a9", 16)
E = 65537
PEM = b"""-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAi+ZNh666ykIcym3xSgHx
PQJAw6RDhNLz3bMfPnKUR3S1jQ5+GipvNVi+aQAdl5QAktV2X0oefHvSW/O7fjlZ
rpxmL4Fv35caUDe2E92FXKr/Z2DFO16zCvcfL/NWiVd7mBHagPvE8+W6K0WLpA1k
gNx+wUGQCk8B75Qd9ilN/8C5Z+VTQXN5s2R7KHk/EFbHjNs6jFg4GlktQqhnfVZ2
e3QZTKy8VKLJpdTsa6RDSC75xDEFrmjmMdxcC4VHhc7WqGX9nXh0IQsYaIfrQowq
vr0P935r0K3ABlHvcjNM0KjfF679RsUXZRueUVoROyxnPw3K2yUyavG+WjlFFj1M
LQIDAQAB
-----END PUBLIC KEY-----
"""
PEM_PKCS1 = b"""-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAi+ZNh666ykIcym3xSgHxPQJAw6RDhNLz3bMfPnKUR3S1jQ5+Gipv
NVi+aQAdl5QAktV2X0oefHvSW/O7fjlZrpxmL4Fv35caUDe2E92FXKr/Z2DFO16z
CvcfL/NWiVd7mBHagPvE8+W6K0WLpA1kgNx+wUGQCk8B75Qd9ilN/8C5Z+VTQXN5
s2R7KHk/EFbHjNs6jFg4GlktQqhnfVZ2e3QZTKy8VKLJpdTsa6RDSC75xDEFrmjm
MdxcC4VHhc7WqGX9nXh0IQsYaIfrQowqvr0P935r0K3ABlHvcjNM0KjfF679RsUX
ZRueUVoROyxnPw3K2yUyavG+WjlFFj1MLQIDAQAB
-----END RSA PUBLIC KEY-----
"""
# the SubjectPublicKeyInfo above with its DER cut after 100 bytes
PEM_BAD = (b"-----BEGIN PUBLIC KEY-----\n"
           + base64.encodebytes(base64.b64decode(b"".join(PEM.splitlines()[1:-1]))[:100])
           + b"-----END PUBLIC KEY-----\n")

CAPS = (0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x80000)
USERS = {"fast", "full", "switch", "tonative", "sha256", "nopw", "pkcs1", "badkey"}


def password_of(user):
    return b"" if user == "nopw" else (user + "-pw").encode()


def sha1(b):
    return hashlib.sha1(b).digest()


def sha256(b):
    return hashlib.sha256(b).digest()


def xor(a, b):
    return bytes(x ^ b[i % len(b)] for i, x in enumerate(a))


def native_scramble(pw, nonce):
    if not pw:
        return b""
    s1 = sha1(pw)
    return xor(s1, sha1(nonce + sha1(s1)))


def sha2_scramble(pw, nonce):
    if not pw:
        return b""
    d1 = sha256(pw)
    return xor(d1, sha256(sha256(d1) + nonce))


def mgf1(seed, n):
    out = b""
    c = 0
    while len(out) < n:
        out += sha1(seed + struct.pack(">I", c))
        c += 1
    return out[:n]


def rsa_oaep_decrypt(ct):
    k = (N.bit_length() + 7) // 8
    if len(ct) != k:
        return None
    em = pow(int.from_bytes(ct, "big"), D, N).to_bytes(k, "big")
    if em[0] != 0:
        return None
    mseed, mdb = em[1:21], em[21:]
    seed = xor(mseed, mgf1(mdb, 20))
    db = xor(mdb, mgf1(seed, len(mdb)))
    if db[:20] != sha1(b""):
        return None
    rest = db[20:].lstrip(b"\0")
    if not rest or rest[0] != 1:
        return None
    return rest[1:]


def nonce():
    return bytes(1 + b % 126 for b in os.urandom(20))


class Conn(socketserver.BaseRequestHandler):
    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            part = self.request.recv(n - len(buf))
            if not part:
                raise EOFError
            buf += part
        return buf

    def read(self):
        hdr = self.recv_exact(4)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        self.seq = (hdr[3] + 1) & 0xff
        return self.recv_exact(n)

    def write(self, payload):
        self.request.sendall(struct.pack("<I", len(payload))[:3] + bytes([self.seq]) + payload)
        self.seq = (self.seq + 1) & 0xff

    def ok(self):
        self.write(b"\x00\x00\x00\x02\x00\x00\x00")

    def err(self, user):
        msg = "Access denied for user '%s'@'127.0.0.1' (using password: YES)" % user
        self.write(b"\xff" + struct.pack("<H", 1045) + b"#28000" + msg.encode())

    def greeting(self, plugin, salt):
        body = (b"\x0a" + b"8.0.99-scripted\x00" + struct.pack("<I", 42) + salt[:8] + b"\x00"
                + struct.pack("<H", CAPS & 0xffff) + bytes([45]) + struct.pack("<H", 2)
                + struct.pack("<H", CAPS >> 16) + bytes([21]) + b"\x00" * 10
                + salt[8:] + b"\x00" + plugin + b"\x00")
        self.seq = 0
        self.write(body)

    def full_auth(self, user, salt, tag, pem=PEM):
        """Client has the 'perform full authentication' (or sha256) prompt."""
        pkt = self.read()
        if pkt == b"\x02" or pkt == b"\x01":
            self.write(b"\x01" + pem)
            pkt = self.read()
            tag += ":key-requested"
        else:
            tag += ":key-given"
        plain = rsa_oaep_decrypt(pkt)
        if plain is None or xor(plain, salt) != password_of(user) + b"\x00":
            self.err(user)
            return None
        self.ok()
        return tag

    def handle(self):
        try:
            path = self.login_any()
            if path is None:
                return
            while True:
                pkt = self.read()
                self.seq = 1
                cmd = pkt[:1]
                if cmd == b"\x01":
                    return
                if cmd == b"\x03" and pkt[1:].strip().lower() == b"select path":
                    self.write(b"\x01")
                    self.write(b"\x03def\x00\x00\x00\x04path\x04path\x0c" + struct.pack("<HIBHB", 45, 64, 253, 0, 0)
                               + b"\x00\x00")
                    self.write(b"\xfe\x00\x00\x02\x00")
                    p = path.encode()
                    self.write(bytes([len(p)]) + p)
                    self.write(b"\xfe\x00\x00\x02\x00")
                else:
                    self.ok()
        except (EOFError, ConnectionError, ValueError, IndexError, struct.error):
            return

    def login_any(self):
        # Every user is greeted with caching_sha2_password; the user name
        # in the reply decides what happens next.
        salt = nonce()
        self.greeting(b"caching_sha2_password", salt)
        resp = self.read()
        caps = struct.unpack_from("<I", resp, 0)[0]
        pos = 32
        z = resp.index(b"\x00", pos)
        user = resp[pos:z].decode()
        pos = z + 1
        tlen = resp[pos]
        token = resp[pos + 1:pos + 1 + tlen]
        pos += 1 + tlen
        if caps & 0x8:
            pos = resp.index(b"\x00", pos) + 1
        plugin = b""
        if caps & 0x80000:
            z = resp.index(b"\x00", pos)
            plugin = resp[pos:z]
        if user not in USERS or plugin != b"caching_sha2_password":
            self.err(user)
            return None
        pw = password_of(user)
        if user == "sha256":
            salt = nonce()
            self.write(b"\xfe" + b"sha256_password\x00" + salt + b"\x00")
            return self.full_auth(user, salt, "sha256")
        if user in ("switch", "tonative"):
            salt = nonce()
            self.write(b"\xfe" + b"mysql_native_password\x00" + salt + b"\x00")
            if self.read() != native_scramble(pw, salt):
                self.err(user)
                return None
            if user == "tonative":
                self.ok()
                return "tonative"
            salt = nonce()
            self.write(b"\xfe" + b"caching_sha2_password\x00" + salt + b"\x00")
            if self.read() != sha2_scramble(pw, salt):
                self.err(user)
                return None
            self.write(b"\x01\x03")
            self.ok()
            return "switch:fast"
        if token != sha2_scramble(pw, salt):
            self.err(user)
            return None
        if user == "nopw":
            self.ok()
            return "nopw"
        if user in ("full", "pkcs1", "badkey"):
            self.write(b"\x01\x04")
            pem = {"full": PEM, "pkcs1": PEM_PKCS1, "badkey": PEM_BAD}[user]
            return self.full_auth(user, salt, user, pem)
        self.write(b"\x01\x03")
        self.ok()
        return "fast"


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    srv = Server(("127.0.0.1", 0), Conn)
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
