"""The study runner end to end: failure isolation, exit code, summary/aggregate, resume, --only, configurations."""
import json

import nbformat
import numpy as np
import pandas as pd
import yaml
from scipy import stats

from conftest import ROOT, graphlab


KERNEL = {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}}


def quick_report(d):
    "A report notebook that only reads summary.csv: for tests that check runs, not the report (the full one costs seconds)."
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("study_dir = ''", metadata={'tags': ['parameters']}),
        nbformat.v4.new_code_cell("import pathlib\nprint(pathlib.Path(study_dir, 'summary.csv').read_text())")], metadata=KERNEL)
    nbformat.write(nb, d / 'quick_report.ipynb')
    return str(d / 'quick_report.ipynb')


def tiny_study(d, report=None):
    "A notebook that fails for x < 0 and writes metrics y = 2x + seed, and its grid (three runs; `report` or the summary report)."
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1\nseed = 0\nrun_dir = ''", metadata={'tags': ['parameters']}),
        nbformat.v4.new_code_cell("import json, pathlib\nassert x > 0, f'x={x} must be positive'"),
        nbformat.v4.new_code_cell("pathlib.Path(run_dir, 'metrics.json').write_text(json.dumps({'test_y': 2 * x + seed}))\n"
                                  "import os, psutil  # what the kernel was started by\n"
                                  "pathlib.Path(run_dir, 'parent.txt').write_text(' '.join(psutil.Process(os.getppid()).cmdline()))")],
        metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}})
    nbformat.write(nb, d / 'tiny.ipynb')
    grid = {'parameters': {'x': 1}, 'runs': [{'x': -1}], 'seeds': [0, 1], 'key_metric': 'test_y',
            'exclude': [{'x': -1, 'seed': 1}], 'report': report or str(ROOT / 'nbs' / 'studies' / 'summary_report.ipynb')}
    (d / 'tiny.yaml').write_text(yaml.safe_dump(grid))
    return d / 'tiny.ipynb', d / 'tiny.yaml'


def test_failure_isolation_summary_aggregate_and_resume(tmp_path):
    nb, grid = tiny_study(tmp_path)
    args = ['study', nb, '--grid', grid, '--out', tmp_path / 'out', '--study-id', 's1', '--workers', '2']
    p = graphlab(*args, cwd=tmp_path)
    assert p.returncode == 1, (p.stdout, p.stderr)       # a run failed: non-zero, after writing everything
    d = tmp_path / 'out' / 'tiny' / 's1'
    assert 'x=-1,seed=0  failed' in p.stdout and f"report: {d.resolve() / 'report.html'}" in p.stdout, p.stdout

    s = pd.read_csv(d / 'summary.csv').set_index('run')
    assert sorted(s.index) == ['x=-1,seed=0', 'x=1,seed=0', 'x=1,seed=1']
    bad = s.loc['x=-1,seed=0']
    assert (bad.status, bad.error, int(bad.cell)) == ('failed', 'AssertionError', 3) and 'x=-1' in bad.message
    assert (d / 'runs' / 'x=-1,seed=0' / 'notebook.ipynb').is_file()          # kept on failure
    assert s.loc['x=1,seed=1', 'test_y'] == 3 and s.loc['x=1,seed=0', 'status'] == 'ok'
    assert 'graphlab_forkserver' in (d / 'runs' / 'x=1,seed=0' / 'parent.txt').read_text()   # forked from the study's server

    a = pd.read_csv(d / 'aggregate.csv')
    row = a[(a.metric == 'test_y')].iloc[0]
    lo, hi = stats.t.interval(0.95, 1, loc=2.5, scale=stats.sem([2, 3]))
    assert row.n == 2 and np.isclose(row['mean'], 2.5) and np.isclose(row.ci_low, lo) and np.isclose(row.ci_high, hi)
    assert (d / 'report.html').stat().st_size > 10_000 and (d / 'figures' / 'test_metrics.png').is_file()

    ok_nb = d / 'runs' / 'x=1,seed=0' / 'notebook.ipynb'
    before = {r: (d / 'runs' / r / 'notebook.ipynb').stat().st_mtime_ns for r in s.index}
    p = graphlab(*args, cwd=tmp_path)                                          # resume: only the failed run
    assert p.returncode == 1 and '1 of 3 runs to execute' in p.stdout, p.stdout
    after = {r: (d / 'runs' / r / 'notebook.ipynb').stat().st_mtime_ns for r in s.index}
    assert after['x=1,seed=0'] == before['x=1,seed=0'] and after['x=1,seed=1'] == before['x=1,seed=1']
    assert after['x=-1,seed=0'] != before['x=-1,seed=0']
    assert ok_nb.is_file()


def test_list_only_and_aggregate(tmp_path):
    nb, grid = tiny_study(tmp_path, quick_report(tmp_path))
    base = ['study', nb, '--grid', grid, '--out', tmp_path / 'out', '--study-id', 's2']
    p = graphlab(*base, '--list', cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.split() == ['x=1,seed=0', 'x=1,seed=1', 'x=-1,seed=0']
    p = graphlab(*base, '--only', 'x=1,seed=1', cwd=tmp_path)                  # one grid point, as a job array would
    d = tmp_path / 'out' / 'tiny' / 's2'
    assert p.returncode == 0 and [r.name for r in (d / 'runs').iterdir()] == ['x=1,seed=1'], p.stderr
    assert not (d / 'summary.csv').exists()
    p = graphlab(*base, '--aggregate', cwd=tmp_path)
    s = pd.read_csv(d / 'summary.csv')
    assert p.returncode == 1 and s.status.tolist() == ['missing', 'ok', 'missing']
    p = graphlab(*base, '--only', 'x=2,seed=0', cwd=tmp_path)
    assert p.returncode == 2 and "no run 'x=2,seed=0'" in p.stderr
    p = graphlab(*base, '-p', 'y=3', cwd=tmp_path)
    assert p.returncode == 2 and "parameter 'y' is not a parameter of the study notebook" in p.stderr


def test_train_and_evaluate_study_on_digits(tmp_path):
    grid = {'parameters': {'task': 'classify', 'model': 'small_cnn', 'trainer.max_epochs': 3}, 'seeds': [0, 1]}
    (tmp_path / 'g.yaml').write_text(yaml.safe_dump(grid))
    p = graphlab('study', 'train_and_evaluate', '--grid', tmp_path / 'g.yaml', '--out', tmp_path / 'out',
                 '--study-id', 's', '--workers', '2', cwd=ROOT)
    assert p.returncode == 0, (p.stdout, p.stderr)
    d = tmp_path / 'out' / 'train_and_evaluate' / 's'
    run = d / 'runs' / 'seed=0'
    for f in ('config.yaml', 'metrics.json', 'history.csv', 'checkpoints/last.ckpt', 'notebook.ipynb', 'params.json'):
        assert (run / f).exists(), f
    assert yaml.safe_load((run / 'config.yaml').read_text())['trainer']['max_epochs'] == 3
    s = pd.read_csv(d / 'summary.csv')
    assert s.status.tolist() == ['ok', 'ok'] and (s.test_accuracy > 0.9).all()
    assert json.loads((d / 'runs' / 'seed=1' / 'metrics.json').read_text())['seed'] == 1
    assert (d / 'report.html').is_file()


def test_configurations_are_never_pooled(tmp_path):
    "Overrides that vary are part of the configuration: one aggregate row per precision, never their average."
    grid = {'parameters': {'task': 'classify', 'trainer.max_epochs': 1}, 'seeds': [0, 1]}
    (tmp_path / 'g.yaml').write_text(yaml.safe_dump(grid))
    p = graphlab('study', 'train_and_evaluate', '--grid', tmp_path / 'g.yaml', '-p', 'trainer.precision=[32,bf16-mixed]',
                 '--out', tmp_path / 'out', '--study-id', 's', '--workers', '2', cwd=ROOT)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert 'trainer.precision=bf16-mixed,seed=1  ok' in p.stdout, p.stdout            # the progress line names it
    d = tmp_path / 'out' / 'train_and_evaluate' / 's'
    s = pd.read_csv(d / 'summary.csv', dtype={'trainer.precision': str})
    a = pd.read_csv(d / 'aggregate.csv', dtype={'trainer.precision': str}).query("metric == 'test_accuracy'")
    assert sorted(a['trainer.precision']) == ['32', 'bf16-mixed'] and (a.n == 2).all(), a
    for prec, row in a.set_index('trainer.precision').iterrows():
        assert np.isclose(row['mean'], s[s['trainer.precision'] == prec].test_accuracy.mean())
    cfg = yaml.safe_load((d / 'runs' / 'trainer.precision=bf16-mixed,seed=0' / 'config.yaml').read_text())
    assert cfg['trainer']['precision'] == 'bf16-mixed'


def test_nested_overrides_make_configurations(tmp_path):
    "An axis of parameter sets with nested overrides: one aggregate row per model, each over its own seeds."
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("model = 'a'\noverrides = {}\nseed = 0\nrun_dir = ''", metadata={'tags': ['parameters']}),
        nbformat.v4.new_code_cell("import json, pathlib\nv = {'a': 1.0, 'b': 5.0}[model] * overrides['opt']['scale'] + seed\n"
                                  "pathlib.Path(run_dir, 'metrics.json').write_text(json.dumps({'test_v': v}))")],
        metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}})
    nbformat.write(nb, tmp_path / 'nested.ipynb')
    grid = {'parameters': {'arch': [{'model': 'a', 'overrides': {'opt': {'scale': 1}}},
                                    {'model': 'b', 'overrides': {'opt': {'scale': 2}}}]}, 'seeds': [0, 1]}
    (tmp_path / 'nested.yaml').write_text(yaml.safe_dump(grid))
    p = graphlab('study', tmp_path / 'nested.ipynb', '--out', tmp_path / 'out', '--study-id', 's', '--workers', '2', cwd=tmp_path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    a = pd.read_csv(tmp_path / 'out' / 'nested' / 's' / 'aggregate.csv').query("metric == 'test_v'").set_index('model')
    assert sorted(a.index) == ['a', 'b'] and (a.n == 2).all()
    assert np.isclose(a.loc['a', 'mean'], 1.5) and np.isclose(a.loc['b', 'mean'], 10.5) and a.loc['b', 'opt.scale'] == 2


def test_resume_grid_continues_an_unfinished_run(tmp_path):
    "`resume: true`: a run that left checkpoints continues from last.ckpt when the study runs again; otherwise afresh."
    grid = {'parameters': {'task': 'toy', 'trainer.max_epochs': 2}, 'seeds': [0], 'resume': True,
            'report': quick_report(tmp_path)}
    (tmp_path / 'g.yaml').write_text(yaml.safe_dump(grid))
    run = lambda: graphlab('study', 'train_and_evaluate', '--grid', tmp_path / 'g.yaml', '--out', tmp_path / 'out',
                           '--study-id', 's', cwd=ROOT)
    assert (p := run()).returncode == 0, (p.stdout, p.stderr)
    r = tmp_path / 'out' / 'train_and_evaluate' / 's' / 'runs' / 'seed=0'
    first = json.loads((r / 'metrics.json').read_text())
    for f in ('status.json', 'metrics.json'): (r / f).unlink()      # as if the study had been killed before its end
    assert (p := run()).returncode == 0, (p.stdout, p.stderr)
    resumes = [json.loads(line) for line in (r / 'resumes.jsonl').read_text().splitlines()]
    assert len(resumes) == 1 and resumes[0]['checkpoint'].endswith('last.ckpt')
    assert len(pd.read_csv(r / 'history.csv')) == 2                 # continued at epoch 2 of 2: no epoch trained twice
    assert json.loads((r / 'metrics.json').read_text())['test_accuracy'] == first['test_accuracy']
