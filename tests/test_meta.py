"""Meta-tests that keep the plugin API honest (as Datasette does): every hook is tested and documented."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from core import hookspecs
from core.plugins import SETUP_HOOKS

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")]


def test_every_hook_is_called_by_the_core() -> None:
    """Each hook is either a start-up hook the manager calls in order, or a run-time hook."""
    assert set(HOOKS) == set(SETUP_HOOKS) | {"on_event", "deliver_notification", "on_startup", "on_shutdown"}


def _test_names() -> set[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test_named_after_it(hook: str) -> None:
    assert f"test_{hook}" in _test_names()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_in_docs_plugins_md(hook: str) -> None:
    assert f"\n### {hook}\n" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_docstring_says_what_to_return_with_an_example(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Example::" in doc
    assert "Returns:" in doc or hook.startswith("on_")
