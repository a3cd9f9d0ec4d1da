"""Fork while another thread holds one of our HTTP session's pool locks; the child then exits.

The parent's export thread takes a connection from its pool's queue under that queue's lock;
a fork at that instant copies the lock held, and urllib3 closes a collected pool's
connections (at the latest at exit) through it. Here a thread holds the lock on purpose, so
the case is met every run. Prints "CHILD EXITED" or "CHILD HUNG"."""

from __future__ import annotations

import http.server
import os
import signal
import sys
import threading
import time

from otelbundle.sdk.export.http_session import ForkAwareSession


class Answer(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
session = ForkAwareSession()
session.post(url, data=b"x", timeout=5)  # a pool with a kept-alive connection
pool = session.get_adapter(url).poolmanager.connection_from_url(url).pool
assert pool is not None

holding, release = threading.Event(), threading.Event()


# The locks requests and urllib3 take on every request: the pool's queue, or the cookie jar's.
LOCKS = {"pool": pool.mutex, "cookies": session.cookies._cookies_lock}  # type: ignore[attr-defined]


def hold_the_pool_lock() -> None:
    with LOCKS[sys.argv[2] if len(sys.argv) > 2 else "pool"]:
        holding.set()
        release.wait()


threading.Thread(target=hold_the_pool_lock, daemon=True).start()
holding.wait()
child = os.fork()
if child == 0:
    if sys.argv[1] == "export":
        session.post(url, data=b"from the child", timeout=5)
    sys.exit(0)  # interpreter exit: atexit, then the finalizers still alive
release.set()
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    done, status = os.waitpid(child, os.WNOHANG)
    if done:
        print("CHILD EXITED", os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.05)
else:
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    print("CHILD HUNG")
