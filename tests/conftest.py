"""Shared helpers for the process-level tests: run the installed `graphlab` command."""
import os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GRAPHLAB = str(Path(sys.executable).with_name('graphlab'))


def env(**extra) -> dict:
    "Environment for a child process: quiet progress, one torch thread pool like the parent."
    return {**os.environ, 'GRAPHLAB_PROGRESS': 'none', 'PYTHONUNBUFFERED': '1', **extra}


def graphlab(*args, cwd, timeout=600, **kw) -> subprocess.CompletedProcess:
    "Run `graphlab ARGS` in `cwd` and capture its output."
    return subprocess.run([GRAPHLAB, *map(str, args)], cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=timeout, **kw)


@pytest.fixture
def workdir(tmp_path) -> Path:
    "An empty directory to run commands in (runs land in its outputs/)."
    return tmp_path
