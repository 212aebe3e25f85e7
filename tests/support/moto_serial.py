"""moto_server with each request executed alone.

moto's threaded server is not safe for concurrent DynamoDB writes: a cancelled
TransactWriteItems restores a snapshot of the whole table taken before it ran (wiping writes made
meanwhile), and conditional writes are not checked and applied in one step. Real DynamoDB does
neither, so tests run moto behind one lock: requests still arrive concurrently, each runs alone.

Usage: python moto_serial.py PORT
"""
import sys
import threading

import moto.server as server
from werkzeug.serving import run_simple

_lock = threading.Lock()


def _serial_run_simple(host, port, app, **kwargs):
    def locked(environ, start_response):
        with _lock:
            return list(app(environ, start_response))

    run_simple(host, port, locked, **kwargs)


server.run_simple = _serial_run_simple
sys.argv = ["moto_server", "-H", "127.0.0.1", "-p", sys.argv[1]]
server.main()
