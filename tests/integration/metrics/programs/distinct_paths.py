"""A Flask app asked for many distinct raw paths: /stock/<id> (a route with a parameter) and
unrouted 404s (a scanner), plus requests with made-up methods; run under opentelemetry-instrument.

argv[1]: how many paths of each kind.
"""

import sys

from flask import Flask

app = Flask("paths-app")


@app.get("/stock/<int:item>")
def stock(item: int) -> str:
    return f"item {item}"


client = app.test_client()
count = int(sys.argv[1])
for i in range(count):
    client.get(f"/stock/{i}")
    client.get(f"/scan/{i}.php")
for i in range(20):
    client.open("/stock/1", method=f"PROBE{i}")
print("DONE", flush=True)
