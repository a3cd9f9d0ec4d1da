"""Entry points and lifecycle: what ``opentelemetry-instrument`` and ``otelbundle.configure()`` call.

- :mod:`~otelbundle.distro.defaults`: the ``opentelemetry_distro`` entry point (environment defaults).
- :mod:`~otelbundle.distro.configurator`: the ``opentelemetry_configurator`` entry point; reads
  ``otelbundle.yaml`` once and hands each subsystem its section.
- :mod:`~otelbundle.distro.api`: :func:`otelbundle.configure`.
- :mod:`~otelbundle.distro.runtime`: what was started, and a bounded, parallel exit.
"""
