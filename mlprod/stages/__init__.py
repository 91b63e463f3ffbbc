"""How a notebook stage runs: parameters checked, one run at a time, papermill on this interpreter, results
committed in one rename.

* :mod:`.runner` - ``run_notebook``, the order of work (``mlprod run``)
* :mod:`.params` / :mod:`.types` / :mod:`.notebook` - params.yaml sections checked against the notebook's
  ``parameters`` cell before any kernel starts
* :mod:`.stagelock` / :mod:`.signals` - one run of a stage at a time; signals held at the commit point
* :mod:`.kernel` / :mod:`.engine` / :mod:`.startup` - the kernel process, papermill's engine, lean imports
* :mod:`.outputs` / :mod:`.runrecord` / :mod:`.failures` / :mod:`.html` - declared outputs, ``run.json``,
  how a failure is described, the executed notebook as HTML
* :mod:`.interactive` - ``init_stage`` in JupyterLab
"""
