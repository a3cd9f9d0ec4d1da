"""Leaks secrets every way issue #14 lists; run under opentelemetry-instrument.

A Flask server and a requests client in one process, all inside one trace:
credential query parameters on client and server spans, captured request
headers, a `password=` log line, a failing call whose exception (span event,
status, logger.exception) carries the URL with its token, an unparameterised
SQL statement, token shapes in a log line, and a PEM private key in a span
attribute and (a dict's repr) in a log line. The secrets come from the
SECRETS environment variable (JSON), never argv: argv is recorded as a
resource attribute. Prints ``TRACE <id>`` and ``PORT <port>``.
"""

import json
import logging
import os
import sqlite3
import threading

import requests
from flask import Flask, abort, request
from opentelemetry import trace
from werkzeug.serving import make_server

secrets = json.loads(os.environ["SECRETS"])
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
log = logging.getLogger("secrets-app")
app = Flask("secrets-app")


@app.get("/stock/<int:item>")
def stock(item: int) -> dict[str, object]:
    log.info("stock lookup %s", request.url)
    return {"item": item, "count": 3}


@app.get("/profile")
def profile() -> str:
    abort(401)


server = make_server("127.0.0.1", 0, app, threaded=True)
port = server.server_port
threading.Thread(target=server.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{port}"
tracer = trace.get_tracer("secrets-app")

with tracer.start_as_current_span("secrets-run") as root:
    requests.get(
        f"{base}/stock/3?api_key={secrets['api_key']}&token={secrets['token']}&page=2&sort=token_count",
        headers={"Authorization": f"Bearer {secrets['bearer']}", "X-Api-Key": secrets["x_api_key"]},
        timeout=5,
    ).raise_for_status()
    log.warning("connected with password=%s", secrets["password"])
    failing_url = f"{base}/profile?access_token={secrets['access_token']}&fields=name"
    try:
        with tracer.start_as_current_span("fetch-profile"):
            requests.get(failing_url, timeout=5).raise_for_status()
    except requests.HTTPError:
        log.exception("profile call to %s failed", failing_url)
    cursor = sqlite3.connect(":memory:").cursor()  # cursors are traced, Connection.execute is not
    cursor.execute("CREATE TABLE users (name TEXT, password TEXT)")
    cursor.execute(f"SELECT name FROM users WHERE name = 'alice' AND password = '{secrets['sql_literal']}'")
    log.info("issued jwt %s for key %s and %s", secrets["jwt"], secrets["aws_key"], secrets["github"])
    pem = "-----BEGIN RSA PRIVATE KEY-----\n{pem_key_line1}\n{pem_key_line2}\n-----END RSA PRIVATE KEY-----"
    pem = pem.format(**secrets)
    root.set_attribute("tls.key_pem", pem)  # real line breaks
    config = {"cert_file": "/etc/tls/tls.crt", "key_pem": pem}
    log.error("TLS reload failed; config was %s", config)  # a repr: the line breaks as \n
    print(f"TRACE {format(root.get_span_context().trace_id, '032x')}", flush=True)
print(f"PORT {port}", flush=True)
server.shutdown()
