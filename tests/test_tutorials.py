"""Every tutorial runs to the end once per test run: in JupyterLab by tests/test_browser.py when a browser is there,
otherwise here, executed by papermill as a study executes its notebooks. The time limit per cell turns a cell that
waits forever (a widget waiting for a front end) into a failure that names the cell, not a hung CI.
(nbdev_test skips nbs/tutorials: nbs/tutorials/.notest.)"""
import shutil

import papermill as pm
import pytest

from conftest import ROOT
from test_browser import BROWSER, TUTORIALS


@pytest.mark.skipif(BROWSER, reason='tests/test_browser.py runs the tutorials in JupyterLab')
@pytest.mark.parametrize('name', TUTORIALS)
def test_tutorial_under_papermill(name, tmp_path, monkeypatch):
    shutil.copytree(ROOT / 'nbs' / 'tutorials', tmp_path / 'tutorials')
    monkeypatch.setenv('GRAPHLAB_DATA', str(ROOT / 'data'))           # the generated-data cache the browser test uses too
    monkeypatch.setenv('GRAPHLAB_PROGRESS', 'none')
    pm.execute_notebook(str(tmp_path / 'tutorials' / name), str(tmp_path / f'executed-{name}'), kernel_name='python3',
                        cwd=str(tmp_path / 'tutorials'), progress_bar=False, execution_timeout=600)


def test_nbdev_test_leaves_the_tutorials_to_these_tests():
    assert (ROOT / 'nbs' / 'tutorials' / '.notest').is_file()   # else nbdev_test would run every tutorial a second time
    assert TUTORIALS, 'no tutorial found'
