"""Real components started for tests and benchmarks alike: an OTLP receiver that decodes with
opentelemetry-proto, the example services under ``opentelemetry-instrument``, HTTP sinks, the browser.

It lives beside ``tests/`` and ``bench/`` rather than inside ``tests/`` so that benchmarks measure with
the same pieces the tests trust without importing the test suite.
"""
