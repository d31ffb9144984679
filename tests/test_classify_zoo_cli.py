"""`graphlab train classify` with zoo models, datasets and resolutions: metrics and profile next to them, clear errors."""
import json

import numpy as np
from PIL import Image

from conftest import graphlab


def test_resnet18_on_fine_detail_at_48_px(workdir):
    run = workdir / 'run'
    p = graphlab('train', 'classify', 'model=resnet18', 'data=fine_detail', 'resolution=48', 'trainer.max_epochs=1',
                 'n_samples=80', 'trainer.batch_size=8', f'run_dir={run}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith(f'run: {run} |'), p.stdout
    m = json.loads((run / 'metrics.json').read_text())
    assert len(m['test_confusion_matrix']) == 8 and sum(map(sum, m['test_confusion_matrix'])) == 12
    # what the model costs, next to the metrics: ResNet-18 at 48 px is 2.25 × its 1.11 GFLOPs at 32 px
    assert 2.4e9 < m['profile_flops'] < 2.6e9 and m['profile_train_flops'] > 2 * m['profile_flops'], m['profile_flops']
    assert 11e6 < m['profile_params'] < 11.5e6 and m['profile_batch_size'] == 8
    for k in ('profile_latency_ms', 'profile_throughput', 'profile_train_throughput', 'profile_peak_memory_mb',
              'profile_activation_mb', 'throughput_samples_s', 'peak_memory_mb'):
        assert m[k] > 0, k
    # the per-layer table beside them: its parameters and MACs add up to the profile's
    total = (run / 'model_summary.txt').read_text().splitlines()[-1].split()
    assert total == ['total', f"{m['profile_params']:,}", f"{m['profile_flops'] // 2:,}"], total


def test_own_image_folder(workdir):
    root = workdir / 'images'
    rng = np.random.default_rng(0)
    for c, level in (('dark', 40), ('light', 200)):
        (root / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(level - 30, level + 30, (20, 24, 3)).astype(np.uint8)).save(root / c / f'{i}.png')
    (root / 'light' / 'corrupt.jpg').write_bytes(b'\xff\xd8 truncated')
    run = workdir / 'run'
    p = graphlab('train', 'classify', 'data=folder', f'data_root={root}', 'resolution=16', 'model=convnet_small',
                 'trainer.max_epochs=8', 'trainer.optim.lr=0.01', 'trainer.batch_size=4', f'run_dir={run}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert 'skipped 1 unreadable file' in p.stderr and 'corrupt.jpg' in p.stderr, p.stderr
    m = json.loads((run / 'metrics.json').read_text())
    assert m['test_accuracy'] == 1.0 and m['profile_flops'] > 0, m   # dark vs light is easy


def test_profile_writes_model_summaries(cli, tmp_path):
    "`graphlab profile --out DIR`: the table as CSV, and per resolution the per-layer summary (issue 23 §3)."
    code, out, err = cli('profile', 'convnet_small', '--resolution', '8', '16', '--batch-size', '2', '--out', 'p')
    assert code == 0 and 'model_summary_8px.txt, model_summary_16px.txt' in out, err
    from graphlab.models.cnn import build_model
    n = sum(q.numel() for q in build_model('convnet_small', 3, 10).parameters())
    for r in (8, 16):
        lines = (tmp_path / 'p' / f'model_summary_{r}px.txt').read_text().splitlines()
        assert lines[-1].split()[1] == f"{n:,}" and lines[3].split()[:3] == ['features.0.0', 'Conv2d', f'[1,'], lines
        assert lines[3].split()[-1] == f"{16 * 3 * 3 * 3 * r * r:,}"       # the first conv's MACs: C_out C_in k² H W
    assert (tmp_path / 'p' / 'profile.csv').read_text().startswith('resolution,params'), out


def test_explain_shap_lime_and_a_named_layer(cli, tmp_path):
    "`graphlab explain --method shap|lime`, Grad-CAM of a named layer, and a bad name: exit 2 with the choices."
    code, _, err = cli('train', 'classify', 'trainer.max_epochs=1', 'profile=false', 'pixel_baselines=false',
                       'run_dir=c')
    assert code == 0, err
    for m in ('shap', 'lime'):
        code, out, err = cli('explain', 'c', '--method', m, '--n', '2')
        assert code == 0 and f'explanations/{m}-' in out, err
        maps = np.load(next((tmp_path / 'c' / 'explanations').glob(f'{m}-*.npz')))['maps']
        assert maps.shape == (2, 8, 8) and maps.max() == 1.0, maps.shape
    code, _, err = cli('explain', 'c', '--layer', 'features.0', '--n', '2')
    assert code == 0, err
    code, _, err = cli('explain', 'c', '--layer', 'features.9', '--n', '2')
    assert code == 2 and "'features.9' is not a module" in err and 'choose one of: features.0' in err, err


def test_data_errors_exit_2(cli, tmp_path):
    code, _, err = cli('train', 'classify', 'difficulty=0.9')
    assert code == 2 and "'difficulty' does not apply to data=digits" in err, err
    code, _, err = cli('train', 'classify', 'model=resnet19')
    assert code == 2 and "did you mean 'resnet18'" in err, err
    assert not (tmp_path / 'outputs').exists()   # config errors: refused before any run directory is made
    code, _, err = cli('train', 'classify', 'data=folder')
    assert code == 2 and 'data_root=' in err, err
    (tmp_path / 'one' / 'cat').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(tmp_path / 'one' / 'cat' / 'a.png')
    code, _, err = cli('train', 'classify', 'data=folder', f'data_root={tmp_path / "one"}')
    assert code == 2 and 'needs at least two' in err, err
