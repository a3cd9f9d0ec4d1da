"""Celery pool processes recycled after each task (``--max-tasks-per-child 1``) flush at their exit.

billiard ends a pool process with ``os._exit()`` before the finalizers multiprocessing children
run at exit: a recycled pool process lost its task's span, its log lines and its metrics (a
reviewer saw 2 task spans of 6 and no log line arrive). otelbundle flushes on Celery's
``worker_process_shutdown`` signal (otelbundle.sdk.celery_exit). The worker keeps running here:
what arrives was flushed by the pool processes that exited.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from harness.apps import BIN, start
from harness.otlp_receiver import OtlpReceiver
from tests.integration.frameworks.conftest import APPS, app_env
from tests.integration.frameworks.test_celery import WORKER_OPTIONS, start_redis

TASKS = 6


def test_every_recycled_pool_process_delivers_its_task_span_log_and_metrics(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    redis, socket = start_redis(tmp_path)
    broker = {"CELERY_BROKER_URL": f"redis+socket://{socket}"}
    worker = start(
        [
            str(BIN / "celery"),
            "-A",
            f"{APPS}.celery_app:celery",
            "worker",
            *WORKER_OPTIONS,
            "--max-tasks-per-child",
            "1",
        ],
        # A minute between metric exports: the pool processes' metrics come from their exit flush.
        app_env(receiver, "recycled", OTEL_METRIC_EXPORT_INTERVAL="60000", **broker),
        tmp_path,
        name="worker",
    )
    try:
        end = time.monotonic() + 60
        while "ready." not in worker.output:
            assert worker.process.poll() is None and time.monotonic() < end, worker.output
            time.sleep(0.1)
        producer = subprocess.run(
            [
                str(BIN / "python"),
                "-c",
                f"from {APPS}.celery_app import add\nfor i in range({TASKS}): add.delay(i, 1)",
            ],
            env={**app_env(receiver, "producer", **broker), "OTEL_SDK_DISABLED": "true"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert producer.returncode == 0, producer.stderr

        def ran(rx: OtlpReceiver) -> set[str]:
            return {str(s.resource["service.instance.id"]) for s in rx.spans if s.name == "run/add"}

        def logged(rx: OtlpReceiver) -> int:
            return sum(1 for r in rx.logs if r.body == "adding in the worker")

        def measured(rx: OtlpReceiver) -> set[str]:
            return {str(m.resource["service.instance.id"]) for m in rx.points_named("process.memory.usage")}

        try:
            receiver.wait_for(
                lambda rx: len(ran(rx)) == TASKS and logged(rx) == TASKS and ran(rx) <= measured(rx),
                timeout=60,
            )
        except AssertionError:
            raise AssertionError(
                f"task spans from {len(ran(receiver))} pool processes, {logged(receiver)} task log lines, "
                f"process metrics from {len(ran(receiver) & measured(receiver))} of them (of {TASKS})\n"
                + worker.output[-3000:]
            ) from None
        assert "otelbundle" not in worker.output, worker.output[-3000:]
    finally:
        worker.stop()
        redis.terminate()
        redis.wait(10)
