"""Shared helpers for the process-level tests: run the installed `graphlab` command."""
import os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# `pytest -n 3` runs three test processes on two cores: one torch thread each, for them and every command they start
# (two thread pools per core wait on each other). Set before torch is imported; a value the caller chose stays.
if os.environ.get('PYTEST_XDIST_WORKER'):
    for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(k, '1')
GRAPHLAB = str(Path(sys.executable).with_name('graphlab'))

# Generated datasets (keyed by their parameters, written atomically) are shared by every test process and every
# command they start, and with the notebooks (`nbdev_test`, the tutorials): the repository's data/ folder. In a fresh
# clone each dataset is otherwise generated again in each test's empty directory (~75 s of a CI run). A test about
# generating or caching data sets GRAPHLAB_DATA to a folder of its own.
os.environ.setdefault('GRAPHLAB_DATA', str(ROOT / 'data'))


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


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """`graphlab ARGS` in this process, in an empty directory: (exit code, stdout, stderr). For checks of what the
    command answers to bad input; that the installed command exits with the same code is tests/test_cli.py's."""
    import contextlib, io
    from graphlab.cli import main
    monkeypatch.chdir(tmp_path)
    def run(*args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in args])
        return code, out.getvalue(), err.getvalue()
    return run
