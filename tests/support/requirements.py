"""Skip a test whose system tool is missing, or fail it when the CI variable is set.

CI must never skip the integration tiers silently: there a missing tool is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether the CI environment variable asks for failures instead of skips."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip with the reason, or fail with it under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing tool is a failure, not a skip)",
                    pytrace=False)
    pytest.skip(reason)


def require_tools(*names: str, purpose: str) -> None:
    """Skip (or fail under CI) unless every named program is on PATH."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        unavailable(f"{purpose} needs {', '.join(missing)} (apt-get install it; see TESTING.md)")


def require_modules(*names: str, purpose: str) -> None:
    """Skip (or fail under CI) unless every named Python module can be imported."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        unavailable(f"{purpose} needs the Python packages {', '.join(missing)}")
