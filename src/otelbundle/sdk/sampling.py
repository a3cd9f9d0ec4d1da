"""The sampler the user configured, optionally made to record everything.

Alert rules must see 100 % of spans even when only a fraction is exported. The
SDK's ``AlwaysRecordSampler`` turns DROP into RECORD_ONLY: processors (our alert
rules) get every span, exporters still only get the sampled ones. To wrap the
user's sampler we rebuild it from the standard variables with the SDK's public
sampler classes (or the sampler entry point the user named).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry.sdk.trace import sampling

from otelbundle.config import environment

_log = logging.getLogger("otelbundle")


def configured_sampler(env: Mapping[str, str]) -> sampling.Sampler:
    """The sampler named by OTEL_TRACES_SAMPLER / _ARG, as the SDK would build it."""
    name = environment.get(env, "OTEL_TRACES_SAMPLER").lower()
    arg_text = environment.get(env, "OTEL_TRACES_SAMPLER_ARG")
    try:
        ratio = float(arg_text) if arg_text else 1.0
    except ValueError:
        ratio = 1.0
    fixed: dict[str, sampling.Sampler] = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "parentbased_always_on": sampling.ParentBased(sampling.ALWAYS_ON),
        "parentbased_always_off": sampling.ParentBased(sampling.ALWAYS_OFF),
    }
    if name in fixed:
        return fixed[name]
    if name == "traceidratio":
        return sampling.TraceIdRatioBased(ratio)
    if name == "parentbased_traceidratio":
        return sampling.ParentBasedTraceIdRatio(ratio)
    from importlib.metadata import entry_points

    for entry_point in entry_points(group="opentelemetry_traces_sampler"):
        if entry_point.name == name:
            candidate = entry_point.load()(arg_text) if arg_text else entry_point.load()()
            if isinstance(candidate, sampling.Sampler):
                return candidate
    _log.warning(
        "otelbundle: OTEL_TRACES_SAMPLER=%r is not a known sampler; using parentbased_always_on.", name
    )
    return sampling.ParentBased(sampling.ALWAYS_ON)


def record_everything(env: Mapping[str, str]) -> sampling.Sampler:
    return sampling.AlwaysRecordSampler(configured_sampler(env))
