"""Prints what a span passes through: the SDK's span processors, its sampler, the engine threads.

With ``configure`` it runs otelbundle's configurator itself, without the distro
(so without its environment check); otherwise opentelemetry-instrument has done both.
"""

import json
import sys
import threading

from opentelemetry import trace

if sys.argv[1:] == ["configure"]:
    from otelbundle.distro.configurator import OtelBundleConfigurator

    OtelBundleConfigurator().configure()

provider = trace.get_tracer_provider()
processors = provider._active_span_processor._span_processors  # the SDK keeps no public list
report = {
    "processors": [type(p).__name__ for p in processors],
    "sampler": type(provider.sampler).__name__,
    "engine_threads": sum(t.name == "otelbundle-alert-engine" for t in threading.enumerate()),
}
print("PIPELINE " + json.dumps(report), flush=True)
