"""The production loop after promotion: batch scoring (:mod:`.inbox`, :mod:`.scoring`, the predictions record
in :mod:`.predictions`), monitoring over time, the retraining policy. Nothing is imported at package import."""
