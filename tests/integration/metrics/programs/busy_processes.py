"""A parent and a forked multiprocessing child, each busy on the CPU for its whole short life;
their metrics leave once, at exit (run under opentelemetry-instrument, a long export interval)."""

import multiprocessing
import os


def burn() -> None:
    total = 0
    for _ in range(20):
        total += sum(i * i for i in range(200_000))
    print("burnt", os.getpid(), total > 0, flush=True)


if __name__ == "__main__":
    burn()
    child = multiprocessing.get_context("fork").Process(target=burn)
    child.start()
    child.join()
    print("DONE", child.exitcode, flush=True)
