"""The export path of spans and logs: one wrapper for both signals, and what it reports.

- :mod:`~otelbundle.sdk.export.wrapper`: :class:`ExportWrapper` (a batch step, then the
  export, counted), generic over the signal as the SDK's own ``BatchProcessor`` is.
- :mod:`~otelbundle.sdk.export.bounded`: the SDK's batch processors, admitting only what
  their queue holds.
- :mod:`~otelbundle.sdk.export.report`: :class:`DropReport`, said once instead of per batch.
"""
