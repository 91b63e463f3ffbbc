"""``mlprod experiment plan | analyze``: sample size for the always-valid test, and the analysis of an experiment
(per arm and stratum, sample-ratio mismatch, mSPRT always-valid p-values). See docs/experiments.md.

    p = plan(0.12, 0.02)                                   # p.n_per_arm, p.tau2
    exposures = from_table("exposures.csv", strata=["region"])
    result = analyze(exposures, tau2=p.tau2)               # the JSON report as a dict
    report.write(result, "reports/experiment")
"""

from .analyze import analyze
from ...errors import ExperimentError
from .inputs import Exposures, from_log, from_table
from .plan import Plan, plan

__all__ = ["ExperimentError", "Exposures", "Plan", "analyze", "from_log", "from_table", "plan"]
