"""How chunks.py cuts a dispatch, and that a batch which fits is sent as before chunking."""

from __future__ import annotations

from datetime import datetime, timezone

from otelbundle.alerting.alert import Alert
from otelbundle.alerting.notify import AlertmanagerNotifier
from otelbundle.alerting.notify.alertmanager import alertmanager_payload
from otelbundle.alerting.notify.base import json_bytes
from otelbundle.alerting.notify.chunks import MAX_ALERTS_PER_POST, MAX_POST_BYTES, cut

from .conftest import Scripted

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_cut_bounds_count_and_bytes() -> None:
    assert MAX_ALERTS_PER_POST == 256  # Prometheus's DefaultMaxBatchSize
    assert cut([]) == []
    assert cut([10] * 600) == [range(0, 256), range(256, 512), range(512, 600)]
    assert cut([10] * 256) == [range(0, 256)]
    half = MAX_POST_BYTES // 2
    assert cut([half, half, 5]) == [range(0, 1), range(1, 3)]  # two halves plus separators are too many
    assert cut([MAX_POST_BYTES * 3, 1]) == [range(0, 1), range(1, 2)]  # one huge alert still goes, alone


def test_a_small_batch_is_one_post_of_the_same_bytes(scripted: Scripted) -> None:
    batch = [Alert({"alertname": "Few", "key": str(n)}, {"summary": "ok"}, "firing", T, T) for n in range(3)]
    AlertmanagerNotifier(scripted.url).send(batch)
    (seen,) = scripted.seen
    assert seen.raw == json_bytes(alertmanager_payload(batch))
