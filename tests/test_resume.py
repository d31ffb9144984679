"""Exact resume after SIGKILL: a run killed right after the checkpoint of epoch k and resumed
ends with model and optimizer states bitwise equal (SHA-256) to an uninterrupted run."""
import hashlib, os, signal, subprocess

import torch

from conftest import GRAPHLAB, env, graphlab

ARGS = ['classify', 'trainer.max_epochs=5', 'trainer.batch_size=16', 'trainer.deterministic=true', 'seed=7']


def state_sha256(ckpt) -> str:
    "SHA-256 over the model and optimizer states of a checkpoint, in a fixed order."
    s = torch.load(ckpt, map_location='cpu', weights_only=True)
    h = hashlib.sha256()
    def walk(x):
        if isinstance(x, torch.Tensor):
            h.update(f"{x.dtype}{tuple(x.shape)}".encode()); h.update(x.contiguous().numpy().tobytes())
        elif isinstance(x, dict):
            for k in sorted(x, key=str): h.update(repr(k).encode()); walk(x[k])
        elif isinstance(x, (list, tuple)):
            for v in x: walk(v)
        else: h.update(repr(x).encode())
    walk({'model': s['model'], 'optimizer': s['optimizer']})
    return h.hexdigest()


def test_resume_after_sigkill_is_bitwise_exact(workdir):
    full = workdir / 'full'
    p = graphlab('train', *ARGS, f'run_dir={full}', cwd=workdir)
    assert p.returncode == 0, p.stderr

    cut = workdir / 'cut'
    child = subprocess.Popen([GRAPHLAB, 'train', *ARGS, f'run_dir={cut}', 'trainer.debug=true'], cwd=workdir,
                             env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in child.stdout:  # debug mode prints a line after each checkpoint is written
        if line.startswith('saved checkpoint epoch=2 '):
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    epoch = torch.load(cut / 'checkpoints' / 'last.ckpt', map_location='cpu', weights_only=True)['epoch']
    assert 2 <= epoch < 5, epoch   # really interrupted
    assert not (cut / 'metrics.json').exists()

    p = graphlab('train', 'classify', f'run_dir={cut}', '--resume', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert state_sha256(full / 'checkpoints' / 'last.ckpt') == state_sha256(cut / 'checkpoints' / 'last.ckpt')
    assert (full / 'metrics.json').read_text().count('test_accuracy') == 1
    a, b = (open(d / 'history.csv').read().splitlines() for d in (full, cut))
    strip = lambda rows: [r.split(',')[:2] + r.split(',')[4:7] for r in rows]   # drop the timing columns
    assert len(a) == len(b) == 6 and strip(a) == strip(b)
