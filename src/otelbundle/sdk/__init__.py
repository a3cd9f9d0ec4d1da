"""Plug-ins for the OpenTelemetry SDK, through its supported hooks only.

- :mod:`~otelbundle.sdk.export`: the one exporter wrapper and bounded batch processors
  for spans and logs (counting, bounding, a step such as scrubbing), and the drop report.
- :mod:`~otelbundle.sdk.logs`: trace-correlated logging and which records are exported.
- :mod:`~otelbundle.sdk.sampling`: the user's sampler, made to record everything for alert rules.
- :mod:`~otelbundle.sdk.forking`: one registry of what each part does in a forked child.
"""
