"""DDP on the CPU with 2 gloo processes: the same weights as one process with twice the batch, held-out
metrics over exactly the evaluation set, and exact resume after SIGKILL."""
import json, os, signal, subprocess

import pandas as pd
import torch

from conftest import GRAPHLAB, env, graphlab
from test_resume import state_sha256

BASE = ['toy', 'trainer.max_epochs=3', 'trainer.optim.lr=0.05', 'profile=false']


def weights(run_dir):
    return torch.load(run_dir / 'checkpoints' / 'last.ckpt', map_location='cpu', weights_only=True)['model']


def test_two_processes_equal_one_with_twice_the_batch(workdir, cli):
    """(a) a model without BatchNorm or dropout: 2 processes x batch 32 == 1 process x batch 64, to 1e-5;
    (b) the DDP run's test metrics equal its final weights evaluated in one process."""
    one = ['arch=linear', 'trainer.checkpoint.test_weights=last']
    p = graphlab('train', *BASE, *one, 'trainer.devices=2', 'trainer.batch_size=32', 'run_dir=r2', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert cli('train', *BASE, *one, 'trainer.batch_size=64', 'run_dir=r1')[0] == 0        # one process: this one
    a, b = weights(workdir / 'r2'), weights(workdir / 'r1')
    assert all(torch.allclose(a[k], b[k], atol=1e-5, rtol=0) for k in a), {k: (a[k] - b[k]).abs().max() for k in a}
    m = json.loads((workdir / 'r2' / 'metrics.json').read_text())
    assert m['processes'] == 2 and len(list(workdir.glob('r2/metrics.json'))) == 1
    assert cli('evaluate', workdir / 'r2', '--weights', 'last')[0] == 0
    e = json.loads((workdir / 'r2' / 'evaluations' / 'test-last.json').read_text())
    assert e['test_accuracy'] == m['test_accuracy'] and abs(e['test_loss'] - m['test_loss']) < 1e-6, (e, m)


def test_ddp_resume_after_sigkill_is_bitwise_exact(workdir):
    """(c) a 2-process run (BatchNorm, dropout) killed after epoch 2 and resumed ends bitwise equal to an uninterrupted one."""
    args = ['toy', 'trainer.max_epochs=4', 'trainer.optim.lr=0.05', 'profile=false', 'trainer.devices=2',
            'trainer.batch_size=32', 'trainer.deterministic=true', 'seed=3']
    p = graphlab('train', *args, 'run_dir=full', cwd=workdir)
    assert p.returncode == 0, p.stderr
    child = subprocess.Popen([GRAPHLAB, 'train', *args, 'run_dir=cut', 'trainer.debug=true'], cwd=workdir, env=env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    for line in child.stdout:
        if line.startswith('saved checkpoint epoch=2 '):
            os.killpg(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    ckpt = torch.load(workdir / 'cut' / 'checkpoints' / 'last.ckpt', map_location='cpu', weights_only=True)
    assert 2 <= ckpt['epoch'] < 4 and len(ckpt['rng']) == 2, ckpt['epoch']    # interrupted; one RNG state per process
    p = graphlab('train', 'toy', 'run_dir=cut', '--resume', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert state_sha256(workdir / 'full' / 'checkpoints' / 'last.ckpt') == state_sha256(workdir / 'cut' / 'checkpoints' / 'last.ckpt')


def test_validation_uses_the_buffers_that_are_saved(workdir, cli):
    """A 2-process run's recorded validation loss equals its last checkpoint evaluated in one process: with BatchNorm
    (each process's running statistics move apart in training; validation must use process 0's, which are saved), with
    sync_batchnorm, and without BatchNorm."""
    cuda = torch.cuda.device_count() >= 2
    for name, extra in (('bn', []), ('syncbn', ['trainer.sync_batchnorm=true']), ('linear', ['arch=linear'])):
        if name == 'syncbn' and not cuda:      # SyncBatchNorm is CUDA-only in PyTorch: refused before processes start
            code, _, err = cli('train', *BASE, *extra, 'trainer.devices=2', 'trainer.batch_size=16', f'run_dir={name}')
            assert code == 2 and 'SyncBatchNorm runs on CUDA devices only' in err and 'Traceback' not in err, err
            assert not (workdir / name).exists()                   # nothing written
            continue
        p = graphlab('train', *BASE, *extra, 'trainer.devices=2', 'trainer.batch_size=16', f'run_dir={name}', cwd=workdir)
        assert p.returncode == 0, p.stderr
        assert cli('evaluate', workdir / name, '--split', 'val', '--weights', 'last')[0] == 0   # one process: this one
        e = json.loads((workdir / name / 'evaluations' / 'val-last.json').read_text())
        last = pd.read_csv(workdir / name / 'history.csv').iloc[-1]
        assert abs(e['val_loss'] - last.val_loss) < 1e-6 and e['val_accuracy'] == last.val_accuracy, (name, e, dict(last))
