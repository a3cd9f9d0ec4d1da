"""In-process alert rules over finished spans, with Prometheus semantics; see docs/alerting.md.

- :mod:`.section`: the ``alerting:`` section (the config reader); :mod:`.rule_files`: the rule files it
  names, :mod:`.rule_reader` one rule of them.
- :mod:`.rules`, :mod:`.predicates`, :mod:`.templates`: the rule model.
- :mod:`.processor`, :mod:`.window`, :mod:`.batch`, :mod:`.state`: spans in, windows kept.
- :mod:`.log_selector`, :mod:`.log_fold`: rules over log records (``logs:``), fed by :mod:`.log_intake`.
- :mod:`.slo`: SLOs (``slos:``) as burn-rate rules, and their Prometheus twins.
- :mod:`.engine`: the alert state machine (Prometheus' ``rules/alerting.go``); :mod:`.rule_install`:
  what a reload keeps of each rule (``Manager.Update``, ``Group.CopyState``).
- :mod:`.manager`: the thread, reloads, SIGHUP and fork (Prometheus' ``rules/manager.go``).
- :mod:`.telemetry`: every ``otelbundle.alerting.*`` instrument, with an injected meter provider.
- :mod:`.notify`: the notification channels and their dispatcher.
"""

from otelbundle.alerting.manager import AlertingSetup, RuleManager, build_alerting, start_alerting

__all__ = ["AlertingSetup", "RuleManager", "build_alerting", "start_alerting"]
