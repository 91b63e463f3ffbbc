"""Where things are in a strategy's workspace (relative to it): the same layout as a project's monitoring folders."""

INBOX = "stream/inbox"  # the batches that have arrived
LABELS = "stream/labels"  # the label files that have arrived
PREDICTIONS = "monitoring/predictions"
QUARANTINE = "monitoring/quarantine"
MONITORING = "monitoring"  # history.parquet, windows/, keys/, state.json
