"""Traffic strategies without Kubernetes (issue 16): stable assignment of units to arms, deployment modes (A/B,
canary, shadow, blue-green) used alike by ``mlprod serve`` and ``mlprod score``, and their analysis.

- :mod:`.assignment`: GrowthBook's hashing and bucket ranges, deterministic across processes and machines;
- :mod:`.deployment`: the strict ``deployment:`` section of params.yaml (none, ab, canary, shadow, blue_green);
- :mod:`.analysis`: ``mlprod experiment plan | analyze`` (sample size, sample-ratio mismatch, always-valid tests).
"""
