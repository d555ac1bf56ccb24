#!/usr/bin/env python3
"""Install StreetBrain into ./.venv and start it, or run its tests: the README's two commands.

    python3 quickstart.py run     # install, migrate, load demo data, serve the API (SQLite)
    python3 quickstart.py test    # install with the test tools, run the whole test suite

Arguments after the command go to ``streetbrain run`` or to ``pytest``. The install step is
skipped when pyproject.toml has not changed since the last one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def say(message: str) -> None:
    """Progress on stderr, so that stdout stays the platform's own."""
    print(f"[quickstart] {message}", file=sys.stderr, flush=True)


def install(extra: str) -> None:
    """Create the virtualenv and install the project (editable) with ``extra`` when needed."""
    if not (BIN / "python").exists():
        say(f"creating the virtualenv {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extra or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extra}]" if extra else "."
    say(f"installing streetbrain{f'[{extra}]' if extra else ''} (a few minutes the first time)")
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", target],
        cwd=ROOT,
        check=True,
    )
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    """Dispatch ``run`` or ``test``."""
    if sys.version_info < (3, 11):  # noqa: UP036  (a clear message for an old python3)
        say(f"StreetBrain needs Python 3.11 or newer; this is {sys.version.split()[0]}. Run it with python3.11+.")
        return 2
    if not argv or argv[0] not in ("run", "test"):
        say("usage: python3 quickstart.py run [streetbrain run options] | test [pytest options]")
        return 2
    command, rest = argv[0], argv[1:]
    try:
        install("test" if command == "test" else "")
    except subprocess.CalledProcessError as exc:
        say(f"installation failed (exit {exc.returncode}); check the network access to the package index and retry")
        return exc.returncode
    if command == "run":
        args = [str(BIN / "streetbrain"), "run", "--demo", *rest]
    else:
        args = [str(BIN / "python"), "-m", "pytest", *rest]
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
