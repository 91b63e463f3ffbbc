"""The production loop after promotion. Nothing is imported here: ``import mlprod.monitoring`` is instant.

* scoring: :mod:`.inbox` (every new batch in a folder, gated, scored once), :mod:`.scoring` (a frame with a
  model), :mod:`.predictions` (the predictions record and its commit marker)
* monitoring: :mod:`.windows` (time windows and their mergeable summaries), :mod:`.history` (updating the
  monitoring history: :mod:`.settings` its settings, :mod:`.history_inputs` batches and labels, :mod:`.window_parts`
  window summaries on disk, :mod:`.history_file` the history file, :mod:`.window_metrics` its rows per window), :mod:`.estimate` (realised and confidence-based
  estimated performance), :mod:`.kpi` (business KPIs)
* deciding: :mod:`.policy` (the retraining decision)
"""
