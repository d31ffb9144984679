"""`graphlab report RUNS_DIR` on runs trained here (seeds grouped with their 95 % CI, configurations apart, bad folders
exit 2) and `graphlab profile RUN_DIR` on a saved graph-task run (issue 23 §3)."""
import json, shutil

import pandas as pd
import pytest

from graphlab.studies import mean_ci

TOY = ['toy', 'n=64', 'trainer.max_epochs=2', 'trainer.threads=1', 'trainer.progress=none']


def test_report_groups_seeds_and_keeps_configurations_apart(cli, tmp_path):
    for args in (['seed=0'], ['seed=1'], ['seed=0', 'arch=linear']):
        assert cli('train', *TOY, *args, f"run_dir=runs/{'-'.join(args)}")[0] == 0
    acc = {d.name: json.loads((d / 'metrics.json').read_text())['test_accuracy'] for d in (tmp_path / 'runs').iterdir()}
    code, out, err = cli('report', 'runs', '--out', 'rep')
    assert code == 0, err
    table = pd.read_csv(tmp_path / 'rep' / 'report.csv')
    assert table[['arch', 'seeds', 'n']].values.tolist() == [['mlp', '0 1', 2], ['linear', '0', 1]], table
    ci = mean_ci([acc['seed=0'], acc['seed=1']])
    mlp = table.iloc[0]
    assert mlp.test_accuracy == pytest.approx(ci['mean']) and mlp.test_accuracy_ci_low == pytest.approx(ci['ci_low'])
    assert table.iloc[1].test_accuracy == pytest.approx(acc['seed=0-arch=linear'])      # not pooled with the MLP
    assert '| task | arch | seeds | n | accuracy | params |' in out and (tmp_path / 'rep' / 'report.md').is_file(), out
    assert pd.read_csv(tmp_path / 'rep' / 'runs.csv').shape[0] == 3

    (tmp_path / 'runs' / 'seed=1' / 'metrics.json').unlink()                              # a run that never finished
    code, out, _ = cli('report', 'runs', '--out', 'rep')
    assert code == 0 and 'skipped seed=1: no metrics.json' in out, out
    code, _, err = cli('report', 'runs/seed=1')
    assert code == 2 and 'seed=1: no metrics.json' in err, err
    (tmp_path / 'empty').mkdir()
    code, _, err = cli('report', 'empty')
    assert code == 2 and "'empty' holds no runs" in err, err


def test_profile_a_saved_graph_run(cli, tmp_path):
    code, _, err = cli('train', 'com', 'n_graphs=40', 'hidden_dim=8', 'num_layers=1', 'trainer.max_epochs=1',
                       'trainer.batch_size=8', 'profile=false', 'baselines=false', 'trainer.threads=1',
                       'trainer.progress=none', 'run_dir=run')
    assert code == 0, err
    code, out, err = cli('profile', 'run', '--batch-size', '4', '--out', 'p')
    assert code == 0, err
    assert 'com run run (epoch=001-val_mae=' in out and ': batch 4, ' in out, out
    p = json.loads((tmp_path / 'p' / 'profile.json').read_text())
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert p['profile_params'] == m['parameters'] and p['profile_flops'] > 0 and p['profile_latency_ms'] > 0, p
    total = (tmp_path / 'p' / 'model_summary.txt').read_text().splitlines()[-1].split()
    assert total == ['total', f"{p['profile_params']:,}", f"{p['profile_flops'] // 2:,}"], total
    code, _, err = cli('profile', 'run', 'hidden_dim=16')
    assert code == 2 and 'only trainer.* keys' in err, err
    code, _, err = cli('profile', 'run', '--resolution', '32')
    assert code == 2 and '--resolution is for zoo models' in err, err
