"""bench/bench_distro.py says which code each mode ran, from the telemetry it sent.

A mode named otelbundle whose app fell back to the plain SDK (or an upstream
baseline that ran otelbundle's distro) would still print a ratio; the
``telemetry.distro.name`` of what reached the receiver tells them apart.
"""

from __future__ import annotations

import sys

from tests.unit.docs.markdown import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import bench_distro


def test_an_otelbundle_mode_that_fell_back_to_the_plain_sdk_is_reported() -> None:
    assert bench_distro.identity_problems("otelbundle", {"(none)"})
    assert bench_distro.identity_problems("otelbundle:b64", {"(none)", "otelbundle"})
    assert bench_distro.identity_problems("otelbundle-grpc", set())


def test_an_upstream_baseline_that_ran_otelbundle_is_reported() -> None:
    assert bench_distro.identity_problems("upstream-distro", {"otelbundle"})


def test_modes_that_ran_what_they_are_named_after_are_not_reported() -> None:
    assert bench_distro.identity_problems("otelbundle", {"otelbundle"}) == []
    assert bench_distro.identity_problems("otelbundle:b128", {"otelbundle"}) == []
    assert bench_distro.identity_problems("upstream-distro", {"(none)"}) == []
    # it does not flush at SIGTERM: a short run may see nothing of it
    assert bench_distro.identity_problems("upstream-distro", set()) == []
    assert bench_distro.identity_problems("uninstrumented", set()) == []
    assert bench_distro.identity_problems("otelbundle-collector-down", set()) == []
    assert bench_distro.identity_problems("uninstrumented", {"otelbundle"})
