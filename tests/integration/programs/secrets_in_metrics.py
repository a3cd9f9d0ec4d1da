"""Records metrics whose attributes carry one secret (SECRET); run under opentelemetry-instrument.

Tags say which place leaked: MU a URL's api_key in a data point attribute, MH a captured
Authorization header as an attribute; the resource's (MR, from OTEL_RESOURCE_ATTRIBUTES)
is set by the test. The exit flush exports the last collection.
"""

import os

from opentelemetry import metrics

S = os.environ["SECRET"]
meter = metrics.get_meter("metrics-app")
calls = meter.create_counter("app.calls")
calls.add(1, {"url.full": f"https://api.example.com/v1?api_key=MU{S}&page=2", "http.route": "/v1"})
calls.add(1, {"http.request.header.authorization": f"Bearer MH{S}", "http.route": "/v2"})
print("RECORDED", flush=True)
