"""The optimization study on two tasks (classify, and image2graph under a workload label): paired speed-ups with intervals."""
import numpy as np
import pandas as pd
import yaml

from conftest import ROOT, graphlab


def test_optimization_study_pairs_settings_with_baseline(tmp_path):
    grid = yaml.safe_load((ROOT / 'nbs' / 'studies' / 'optimization.yaml').read_text())
    grid['parameters']['workload'] = [{'task': 'classify', 'trainer.max_epochs': 1},    # one epoch: its time is the steady one
                                      {'task': 'image2graph', 'workload': 'image2graph-b', 'model': 'b', 'n_train': 64, 'n_val': 32, 'n_test': 32,
                                       'resolution': 32, 'trainer.max_epochs': 1, 'trainer.batch_size': 16}]
    grid['parameters']['setting'] = [{'setting': 'baseline'}, {'setting': 'bf16-mixed', 'trainer.precision': 'bf16-mixed'}]
    grid['runs'] = []
    grid['seeds'] = [0, 1]                                   # two seeds: enough to pair, and cheap
    (tmp_path / 'g.yaml').write_text(yaml.safe_dump(grid))
    p = graphlab('study', 'optimization', '--grid', tmp_path / 'g.yaml', '--out', tmp_path / 'out', '--study-id', 's',
                 '--workers', '2', cwd=ROOT)
    assert p.returncode == 0, (p.stdout, p.stderr)
    d = tmp_path / 'out' / 'optimization' / 's'
    s = pd.read_csv(d / 'summary.csv')
    assert len(s) == 8 and (s['opt.steady_epoch_s'] > 0).all() and (s['opt.peak_memory_mb'] > 0).all()
    o = pd.read_csv(d / 'optimization.csv').set_index(['task', 'setting'])
    assert sorted(o.index) == [('classify', 'bf16-mixed'), ('image2graph-b', 'bf16-mixed')] and (o.n == 2).all()   # task, or its label
    r = o.loc[('classify', 'bf16-mixed')]
    assert r.speedup_lo <= r.speedup <= r.speedup_hi and r.change_lo <= r.metric_change <= r.change_hi
    b = s[(s.task == 'classify')].set_index(['setting', 'seed'])['opt.steady_epoch_s']    # paired by seed, by hand
    assert np.isclose(r.speedup, np.exp(np.mean(np.log(b['baseline'] / b['bf16-mixed']))))
    assert r.metric == 'test_accuracy' and (d / 'figures' / 'optimization.png').is_file() and (d / 'report.html').is_file()
