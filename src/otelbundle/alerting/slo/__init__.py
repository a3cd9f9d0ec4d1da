"""Service level objectives: one ``slos:`` entry, burn-rate alerts for both paths (docs/alerting.md).

- :mod:`.model`: the objective and the multi-window, multi-burn-rate table (Google SRE workbook).
- :mod:`.reader`: a ``slos:`` entry of a rule file, every problem located.
- :mod:`.windows`: the counts an SLO keeps in process (bounded, whatever the window length).
- :mod:`.burn`: the in-process rules an SLO becomes, evaluated by the engine as any rule.
- :mod:`.prometheus`: the same alerts as Prometheus recording and alerting rules on span
  metrics, with ``promtool test rules`` tests (``otelbundle slo generate --prometheus``).
"""
