"""A short job that only does some work and exits: its metrics leave at exit (run under
opentelemetry-instrument)."""

total = sum(i * i for i in range(100_000))
print("DONE", total, flush=True)
