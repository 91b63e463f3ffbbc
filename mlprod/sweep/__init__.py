"""Parameter sweeps on DVC's experiment queue (``mlprod sweep``; docs/sweeps.md).

- :mod:`.settings`: the grid or list of settings, checked against params.yaml and the stages that run;
- :mod:`.queue`: queue the settings as DVC experiments up to the target stage, run them on N workers, wait;
- :mod:`.results`: one table of metrics and each experiment's manifest lineage (``dvc exp show --json``);
- :mod:`.apply`: the chosen experiment becomes a branch, rebuilt and registered through the full pipeline.
"""
