"""The project's Ansible filter plugins (plugins/filter/), loaded for the unit tests as
Ansible loads them: by file, outside any package."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

FILTERS = Path(__file__).resolve().parent.parent / "plugins" / "filter"


@cache
def filters(plugin: str) -> dict[str, Callable[..., Any]]:
    """The filters of plugins/filter/<plugin>.py by name."""
    spec = importlib.util.spec_from_file_location(f"horilla_filter_{plugin}", FILTERS / f"{plugin}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()
