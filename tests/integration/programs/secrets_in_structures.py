"""Carries one secret (SECRET) into the places scrubbing missed once; run under opentelemetry-instrument.

Each place tags the secret (``PA<secret>`` ...) so a test can say which one leaked:
PA Proxy-Authorization and SC Set-Cookie headers as the instrumentations capture them
(``http.request.header.proxy_authorization``); SA instrumentation-scope attributes; AT a
URL whose password has an unencoded ``@``; EV a span event's name; SQ a CREATE USER
statement quoted in an exception event; NP/NL/ND maps and lists from ``extra=``; BY bytes
from ``extra=``; LB/LBB a map body with a Cookie and bytes, EN its event name; AK an
``AWS_SECRET_ACCESS_KEY=`` line; JK a JSON line's ``apiKey``. Vendor API keys by their
prefix (the secret inside a key of the real shape): GL GitLab, ST Stripe, GO Google, NM npm,
PY PyPI, SG SendGrid, OA OpenAI, AN Anthropic, XA a Slack app token; SL a Slack webhook URL,
AZ an Azure connection string's AccountKey (in an exception event), CK a Cookie header in a
log line, FR a credential parameter in a URL fragment (a span attribute); AR a URL in an
array attribute of a span (as other SDKs send ``process.command_args``). Prints ``TRACE <id>``.
"""

import json
import logging
import os
import threading

import requests
from flask import Flask, make_response
from opentelemetry import _logs, trace
from werkzeug.serving import make_server

S = os.environ["SECRET"]
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
log = logging.getLogger("structures-app")
app = Flask("structures-app")


@app.get("/login")
def login() -> object:
    response = make_response("ok")
    response.set_cookie("session", "SC" + S)
    return response


server = make_server("127.0.0.1", 0, app, threaded=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{server.server_port}"
tracer = trace.get_tracer("structures-app", attributes={"app.dsn": f"postgresql://app:SA{S}@db/shop"})

with tracer.start_as_current_span("structures-run") as root:
    requests.get(f"{base}/login", headers={"Proxy-Authorization": "Basic PA" + S}, timeout=5)
    root.set_attribute("app.db_url", f"postgresql://app:p@AT{S}@db/shop")
    root.set_attribute("gen_ai.usage.input_tokens", 42)
    root.add_event(f"retrying {base}/x?api_key=EV{S}&page=2")
    root.add_event(
        "exception",
        {"exception.type": "ProgrammingError", "exception.message": f"CREATE USER bob WITH PASSWORD 'SQ{S}'"},
    )
    log.info("form posted", extra={"form": {"user": "bob", "password": "NP" + S}})
    log.info("calls made", extra={"calls": [{"url": f"https://h/?api_key=NL{S}&page=2"}]})
    log.info("config read", extra={"conf": {"dsn": f"redis://:ND{S}@cache:6379/0"}})
    log.info("raw payload", extra={"raw": ("password=BY" + S).encode()})
    _logs.get_logger("structures-app.api").emit(
        body={"headers": {"Cookie": "sid=LB" + S}, "raw": b"token=LBB" + S.encode(), "user": "bob"},
        event_name=f"login?token=EN{S}",
    )
    log.info("env: AWS_SECRET_ACCESS_KEY=AK%s loaded", S)
    log.info("%s", json.dumps({"apiKey": "JK" + S, "page": 2}))
    log.info(
        "keys: glpat-GL%s sk_live_ST%s AIzaGO%sabcdefghijklm npm_NM%sabcdefghijklmn "
        "pypi-AgEIcHlwaS5vcmcPY%sabcdefghijklmnop SG.abcdefghijklmnopqrstuv.SG%sabcdefghijklmnopqrstu "
        "sk-proj-OA%s sk-ant-api03-AN%s-AA xapp-1-XA%s",
        *[S] * 9,
    )
    root.set_attribute("app.alerts", f"posting to https://hooks.slack.com/services/T0123/B0123/SL{S}")
    root.add_event(
        "exception",
        {
            "exception.message": f"auth failed: DefaultEndpointsProtocol=https;AccountName=a;AccountKey=AZ{S}==;"
        },
    )
    log.info("request: GET /cart\nCookie: sessionid=CK%s; theme=dark\nHost: shop", S)
    root.set_attribute("app.redirect", f"https://app.example.com/callback#api_key=FR{S}&state=1")
    root.set_attribute("app.upstreams", [f"https://h/x?api_key=AR{S}&page=2", "https://h/y"])
    print(f"TRACE {format(root.get_span_context().trace_id, '032x')}", flush=True)
server.shutdown()
