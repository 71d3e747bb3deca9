#!/usr/bin/env python3
"""Small helpers for the e2e shell scripts (standard library only).

    util.py free-port                  print a free TCP port on 127.0.0.1
    util.py new-key                    print a random API key
    util.py wait-health URL PID SECS   wait until GET URL answers 200; fail when
                                       process PID exits or SECS pass
    util.py health URL                 exit 0 when GET URL answers 200 now
    util.py cut-relay PORT UPSTREAM_PORT BYTES
                                       relay 127.0.0.1:PORT to 127.0.0.1:UPSTREAM_PORT
                                       and close each connection once BYTES of the
                                       upstream's answer have passed: an upstream
                                       that fails in the middle of a stream
"""

import http.client
import os
import secrets
import socket
import sys
import threading
import time
import urllib.parse


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_status(url, timeout=2.0):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of another process still "exists"; check its state.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return True


def wait_health(url, pid, seconds):
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        if not process_alive(pid):
            print(f"server process {pid} exited before {url} answered", file=sys.stderr)
            return 1
        status = health_status(url)
        if status == 200:
            return 0
        time.sleep(0.1)
    print(f"{url} did not answer 200 within {seconds} s (last status: {status})",
          file=sys.stderr)
    return 1


def cut_relay(port, upstream_port, limit):
    """Passes each connection on to the upstream, but only the first `limit`
    bytes of what the upstream answers; then closes both sides. Runs until
    killed."""
    def serve(down):
        try:
            up = socket.create_connection(("127.0.0.1", upstream_port))
        except OSError:
            down.close()
            return

        def forward():
            try:
                while data := down.recv(65536):
                    up.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward, daemon=True).start()
        passed = 0
        try:
            while passed < limit and (data := up.recv(min(65536, limit - passed))):
                down.sendall(data)
                passed += len(data)
        except OSError:
            pass
        for s in (up, down):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        while True:
            down, _ = listener.accept()
            threading.Thread(target=serve, args=(down,), daemon=True).start()


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "free-port" and len(argv) == 2:
        print(free_port())
        return 0
    if cmd == "new-key" and len(argv) == 2:
        print("sk-e2e-" + secrets.token_hex(16))
        return 0
    if cmd == "wait-health" and len(argv) == 5:
        return wait_health(argv[2], int(argv[3]), float(argv[4]))
    if cmd == "health" and len(argv) == 3:
        return 0 if health_status(argv[2]) == 200 else 1
    if cmd == "cut-relay" and len(argv) == 5:
        cut_relay(int(argv[2]), int(argv[3]), int(argv[4]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
