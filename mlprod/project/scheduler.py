"""The ``dask:`` section of params.yaml: the Dask scheduler a project's data work runs on
(``dask: {address: tcp://host:8786}``; ``address: null`` or no section: one process), parsed strictly.
``--dask ADDRESS`` on a CLI verb overrides it; a stage notebook gets it as its ``dask_address`` parameter."""

from __future__ import annotations

from typing import Any

from ..errors import ParamsError

KEYS = ("address",)


def dask_address(params: Any, where: str = "params.yaml", given: str | None = None) -> str | None:
    """The scheduler address: ``given`` (the CLI's ``--dask``) if set, else params' ``dask.address``, else None."""
    if given is not None:
        if not given.strip():
            raise ParamsError("--dask needs a scheduler address such as tcp://127.0.0.1:8786")
        return given.strip()
    section = params.get("dask") if isinstance(params, dict) else None
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ParamsError(f"{where} [dask]: expected a mapping such as {{address: tcp://127.0.0.1:8786}}, "
                          f"got {section!r}")
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ParamsError(f"{where} [dask]: unknown key(s) {unknown}; allowed: {list(KEYS)}")
    address = section.get("address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ParamsError(f"{where} [dask] address: expected a scheduler address such as tcp://127.0.0.1:8786 or "
                          f"null (one process), got {address!r}")
    return address.strip() if address else None
