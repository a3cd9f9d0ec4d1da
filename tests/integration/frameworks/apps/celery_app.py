"""A Celery app on a Redis broker, and a Flask web view that produces its tasks.

The broker URL comes from CELERY_BROKER_URL (the tests start their own redis-server).
"""

import logging
import os
import time

from celery import Celery
from flask import Flask

log = logging.getLogger("celery_app")
celery = Celery("celery_app", broker=os.environ["CELERY_BROKER_URL"])
celery.conf.update(
    task_ignore_result=True, worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True
)


class Basket:
    """An arbitrary user object passed in ``extra``."""

    def __init__(self, items: int) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"Basket(items={self.items})"


@celery.task(name="add")
def add(x: int, y: int) -> int:
    time.sleep(0.3)  # long enough that tasks sent together run in both pool processes
    log.warning("adding in the worker", extra={"basket": Basket(x + y)})
    return x + y


@celery.task(name="fail")
def fail() -> None:
    raise RuntimeError("task failed")


web = Flask(__name__)


@web.get("/enqueue/<name>")
def enqueue(name: str) -> str:
    task = add.delay(2, 3) if name == "add" else fail.delay()
    log.warning("enqueued %s", name)
    return str(task.id)
