"""ruff and mypy, configured in pyproject.toml, stay clean."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str, **environ: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, **environ})


def test_ruff_is_clean():
    result = run("ruff", "check", "turbo_whisper", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    result = run("mypy", "turbo_whisper", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_the_reliability_tier():
    # A program of its own (see pyproject.toml): its conftest and its kit, imported by name.
    # Its own cache too, as "conftest" is another file in the suite's.
    tier = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests" / "reliability").rglob("*.py"))
    result = run("mypy", "--cache-dir", ".mypy_cache/reliability", *tier,
                 MYPYPATH=str(ROOT / "tests" / "reliability"))
    assert result.returncode == 0, result.stdout + result.stderr


# A command list that starts with a bare interpreter name runs whatever `python` is on PATH,
# which on a fresh machine has none of the project's packages.
BARE_INTERPRETER = re.compile(r"""\[\s*["'](python3?|pip3?)["']\s*,""")


def test_tests_and_benchmarks_start_python_through_sys_executable():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("tests", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if BARE_INTERPRETER.search(line)
    ]
    assert not offenders, "use sys.executable, not a bare interpreter:\n" + "\n".join(offenders)


def exception_names() -> set[str]:
    """The built-in exceptions and those errors.py defines: the bases of an error class."""
    import builtins

    import turbo_whisper.errors as errors

    return {name for module in (builtins, errors) for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, BaseException)}


def test_every_error_class_of_the_package_is_in_errors_py():
    bases = exception_names()
    elsewhere = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.name}"
        for path in sorted((ROOT / "turbo_whisper").rglob("*.py")) if path.name != "errors.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and any((base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None))
                in bases for base in node.bases)
    ]
    assert not elsewhere, "define error classes in turbo_whisper/errors.py:\n" + "\n".join(elsewhere)


def test_no_two_test_modules_share_a_name():
    # The tiers are folders without __init__.py: pytest refuses to collect a second module of
    # the same name, and the whole run stops at collection.
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}
