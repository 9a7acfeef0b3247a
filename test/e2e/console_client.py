#!/usr/bin/env python3
"""Debug console client for test/e2e/test_console.sh.

    console_client.py PORT [options] CMD [CMD...]
        one connection; reads the welcome line, then sends each CMD line
        and reads its output up to the `<CMD OK>` / `<CMD Error>` line.
        Prints everything received (welcome line included).
    console_client.py PORT --raw TEXT
        sends TEXT (\\n and \\r escapes understood) and prints everything
        until the server closes the connection (the HTTP form).

Options:
    --timeout S         give up on a command after S seconds (default 30);
                        prints `CLIENT TIMEOUT` and exits 2
    --time              after each command print `# TIME <cmd> <seconds>`
    --local             print `# LOCAL <port>` (this client's port) first
    --hold PORT2 N      first open a connection to 127.0.0.1:PORT2, send N
                        bytes and keep it open while the commands run
                        (prints `# HOLD <local port>`)
"""
import socket
import sys
import time

HOST = "127.0.0.1"


def main():
    args = sys.argv[1:]
    port = int(args.pop(0))
    timeout = 30.0
    show_time = False
    raw = None
    held = None
    show_local = False
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--timeout":
            timeout = float(args.pop(0))
        elif opt == "--local":
            show_local = True
        elif opt == "--time":
            show_time = True
        elif opt == "--raw":
            raw = args.pop(0).replace("\\r", "\r").replace("\\n", "\n")
        elif opt == "--hold":
            p2, n = int(args.pop(0)), int(args.pop(0))
            held = socket.create_connection((HOST, p2), timeout=10)
            held.sendall(b"x" * n)
            print("# HOLD %d" % held.getsockname()[1], flush=True)
            time.sleep(0.3)  # let the server read it
        else:
            sys.exit("unknown option " + opt)

    s = socket.create_connection((HOST, port), timeout=10)
    s.settimeout(timeout)
    out = sys.stdout
    if show_local:
        print("# LOCAL %d" % s.getsockname()[1], flush=True)
    if raw is not None:
        s.sendall(raw.encode())
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            out.write(data.decode(errors="replace"))
            print("CLIENT TIMEOUT")
            sys.exit(2)
        out.write(data.decode(errors="replace"))
        return

    f = s.makefile("rb")
    try:
        out.write(f.readline().decode(errors="replace"))
        for cmd in args:
            t0 = time.monotonic()
            s.sendall(cmd.encode() + b"\n")
            while True:
                line = f.readline()
                if not line:
                    print("CLIENT EOF")
                    sys.exit(2)
                text = line.decode(errors="replace")
                out.write(text)
                if text in ("<CMD OK>\n", "<CMD Error>\n"):
                    break
            if show_time:
                print("# TIME %s %.3f" % (cmd.split()[0], time.monotonic() - t0))
            out.flush()
    except (socket.timeout, TimeoutError):
        print("CLIENT TIMEOUT")
        sys.exit(2)
    finally:
        if held:
            held.close()


if __name__ == "__main__":
    main()
