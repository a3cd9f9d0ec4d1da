"""A Flask app served 20 requests, each with a Host header of its own (a scanner); run under
opentelemetry-instrument."""

from flask import Flask

app = Flask("hosts-app")


@app.post("/checkout")
def checkout() -> tuple[str, int]:
    return "declined", 500


client = app.test_client()
for i in range(20):
    client.post("/checkout", headers={"Host": f"scan{i}.example"})
print("DONE", flush=True)
