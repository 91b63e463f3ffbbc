"""Where a running stage's parameter is set in params.yaml, so a notebook's message names the key to change.

``params_key("target")`` is ``project.target`` when the value is the project's shared fact,
``train.target`` when the stage's section sets it, ``-p target`` when the command line did. It reads
what ``mlprod run`` passed to the kernel (or what ``init_stage`` applied in JupyterLab); outside a stage
a shared fact's name gives ``project.<name>``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..project.facts import ALLOWED as FACTS
from ..project.facts import SECTION as SHARED_SECTION

ENV_RUN = "MLPROD_RUN"  # the runner's JSON run context (stage, parameters, shared, overrides)


def params_key(name: str) -> str:
    """The params.yaml key (``section.name``) that sets parameter ``name`` of the running stage."""
    context = current_context()
    stage = context.get("stage")
    if name in (context.get("overrides") or ()):
        return f"-p {name}"
    if name in (context.get("shared") or ()):
        return f"{SHARED_SECTION}.{name}"
    if stage and name in (context.get("parameters") or {}):  # the stage's section set it
        return f"{stage}.{name}"
    if name in FACTS:
        return f"{SHARED_SECTION}.{name}"
    return f"{stage}.{name}" if stage else name


def current_context() -> dict[str, Any]:
    """The run context of ``mlprod run`` (environment), else of the last ``init_stage``, else ``{}``."""
    raw = os.environ.get(ENV_RUN)
    if raw:
        try:
            context = json.loads(raw)
        except ValueError:
            context = None
        if isinstance(context, dict) and context.get("stage"):
            return context
    from .interactive import applied_stage

    return applied_stage() or {}
