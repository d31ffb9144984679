"""The Dask executor: a study on a 2-process LocalCluster (127.0.0.1 only), one run failing on purpose:
failure isolation, exit code, resume and --only the same as the local executor."""
import pandas as pd

from conftest import graphlab
from test_studies import quick_report, tiny_study


def test_dask_local_cluster_isolates_failure_and_resumes(tmp_path):
    nb, grid = tiny_study(tmp_path, quick_report(tmp_path))
    args = ['study', nb, '--grid', grid, '--out', tmp_path / 'out', '--study-id', 'd', '--executor', 'dask', '--workers', '2']
    p = graphlab(*args, cwd=tmp_path)
    assert p.returncode == 1, (p.stdout, p.stderr)                           # the failing run: exit 1, after everything
    assert 'on a local Dask cluster of 2' in p.stdout and 'x=-1,seed=0  failed' in p.stdout, p.stdout
    d = tmp_path / 'out' / 'tiny' / 'd'
    s = pd.read_csv(d / 'summary.csv').set_index('run')
    assert s.status.to_dict() == {'x=1,seed=0': 'ok', 'x=1,seed=1': 'ok', 'x=-1,seed=0': 'failed'}
    assert s.loc['x=-1,seed=0', 'error'] == 'AssertionError' and s.loc['x=1,seed=1', 'test_y'] == 3
    for r in ('x=1,seed=0', 'x=1,seed=1'):                                   # kernels forked from the workers' fork servers
        assert 'graphlab_forkserver' in (d / 'runs' / r / 'parent.txt').read_text()
    p = graphlab(*args, cwd=tmp_path)                                         # resume: only the failed run
    assert p.returncode == 1 and '1 of 3 runs to execute' in p.stdout, p.stdout
    p = graphlab(*args, '--only', 'x=1,seed=0', cwd=tmp_path)                 # complete already: nothing to do
    assert p.returncode == 0 and 'runs to execute' not in p.stdout, p.stdout
