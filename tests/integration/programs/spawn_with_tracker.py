"""Starts one worker with the spawn method, which starts multiprocessing's resource tracker too;
prints the tracker's pid and lives long enough for a few metric exports."""

import multiprocessing
import os
import time


def work():
    time.sleep(0.2)


if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=work)
    p.start()
    p.join()
    from multiprocessing import resource_tracker

    print("TRACKER", resource_tracker._resource_tracker._pid, "PARENT", os.getpid(), flush=True)
    time.sleep(2.5)
    print("SPAWNER DONE", flush=True)
