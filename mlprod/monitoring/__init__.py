"""The production loop: batch scoring, the monitoring history, estimated performance, the retraining
policy. Modules: windows (time windows and their mergeable summaries), estimate (realised and
confidence-based estimated performance), kpi (business KPIs), history (the monitoring history),
policy (the retraining decision). Nothing is imported here: ``import mlprod.monitoring`` is instant.
"""
