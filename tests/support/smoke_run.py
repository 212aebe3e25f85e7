#!/usr/bin/env python3
"""Starts the local runner on a free loopback port, checks GET /healthz answers 200, stops it."""
import socket
import subprocess
import sys
import time
import urllib.request

binary = sys.argv[1]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = {"VANTA_HTTP_ADDR": f"127.0.0.1:{port}", "RUST_LOG": "warn", "PATH": "/usr/bin:/bin"}
proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
status = None
try:
    deadline = time.time() + 30
    while time.time() < deadline and status is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                status = r.status
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
finally:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
print(f"make run smoke check: GET /healthz -> {status}")
sys.exit(0 if status == 200 else 1)
