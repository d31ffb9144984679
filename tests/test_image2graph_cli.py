"""`graphlab train image2graph` end to end on a few graphs: both models, metrics.json, the data cache."""
import json, subprocess

import pytest

from conftest import GRAPHLAB, env

SMALL = ['n_train=64', 'n_val=16', 'n_test=16', 'trainer.batch_size=16']

# every metric of the issue, as written to metrics.json for the held-out test graphs
COMMON = ['ari', 'nmi', 'modularity', 'silhouette', 'ceiling_ari', 'ceiling_nmi', 'floor_ari', 'floor_nmi',
          'ari_vs_ceiling', 'nmi_vs_ceiling', 'true_modularity', 'modularity_vs_true', 'edge_precision', 'edge_recall',
          'edge_f1', 'edge_auroc', 'adjacency_mae', 'density', 'clustering', 'path_length', 'true_density',
          'true_clustering', 'true_path_length']
MODEL_A = ['node_precision', 'node_recall', 'node_f1', 'coord_rmse', 'count_accuracy', 'count_mae']
MODEL_B = ['same_accuracy', 'same_precision', 'same_recall', 'same_f1']


def run(*args, cwd, data):
    return subprocess.run([GRAPHLAB, 'train', 'image2graph', *map(str, args)], cwd=cwd, env=env(GRAPHLAB_DATA=str(data)),
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('model', ['a', 'b'])
def test_fast_dev_run(workdir, model):
    p = run(f'model={model}', 'trainer.fast_dev_run=2', *SMALL, cwd=workdir, data=workdir / 'data')
    assert p.returncode == 0, p.stderr
    assert 'fast_dev_run: nothing written' in p.stdout and 'test_ari=' in p.stdout and 'test_edge_f1=' in p.stdout
    assert not (workdir / 'outputs').exists()


def test_run_writes_every_metric_and_reuses_the_cache(workdir):
    data = workdir / 'data'
    p = run('model=b', 'trainer.max_epochs=1', *SMALL, f'run_dir={workdir / "b"}', cwd=workdir, data=data)
    assert p.returncode == 0, p.stderr
    m = json.loads((workdir / 'b' / 'metrics.json').read_text())
    for k in COMMON + MODEL_B: assert f'test_{k}' in m, k
    assert abs(m['test_floor_ari']) < 0.3 and m['test_ceiling_ari'] > 0.3      # the baselines, on the same graphs
    cached = sorted((data / 'image_graphs').iterdir())
    assert len(cached) == 3 and all((c / 'data.pt').is_file() and (c / 'params.json').is_file() for c in cached)
    stamps = [(c / 'data.pt').stat().st_mtime_ns for c in cached]
    p = run('model=a', 'trainer.max_epochs=1', *SMALL, f'run_dir={workdir / "a"}', cwd=workdir, data=data)
    assert p.returncode == 0, p.stderr
    m = json.loads((workdir / 'a' / 'metrics.json').read_text())
    for k in COMMON + MODEL_A: assert f'test_{k}' in m, k
    assert [(c / 'data.pt').stat().st_mtime_ns for c in sorted((data / 'image_graphs').iterdir())] == stamps   # loaded


def test_bad_parameters_exit_2(cli, tmp_path, monkeypatch):
    monkeypatch.setenv('GRAPHLAB_DATA', str(tmp_path / 'data'))
    for arg, key in [('p_in=1.5', 'p_in=1.5'), ('resolution=16', 'resolution=16'), ('k_max=13', 'k_max=13'),
                     ('n_max=40', 'n_max=40'), ('model=c', "'model'")]:
        code, _, err = cli('train', 'image2graph', arg)
        assert code == 2 and key in err, (arg, err)
    assert not (tmp_path / 'data').exists() and not (tmp_path / 'outputs').exists()
