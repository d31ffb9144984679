"""A checkpoint whose pickle would run code when loaded is refused, and the code does not run."""
import os

import pytest
import torch

from conftest import graphlab
from graphlab.trainer.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint


class Payload:
    def __init__(self, path): self.path = path
    def __reduce__(self): return (os.system, (f'touch {self.path}',))


def write_malicious(path, sentinel):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'format': CHECKPOINT_FORMAT, 'epoch': 1, 'model': Payload(sentinel)}, path)


def test_load_checkpoint_refuses_code(tmp_path):
    sentinel = tmp_path / 'pwned'
    write_malicious(tmp_path / 'evil.ckpt', sentinel)
    with pytest.raises(CheckpointError, match='refusing to load'):
        load_checkpoint(tmp_path / 'evil.ckpt')
    assert not sentinel.exists()


def test_resume_from_malicious_checkpoint_exits_2(workdir):
    run, sentinel = workdir / 'run', workdir / 'pwned'
    write_malicious(run / 'checkpoints' / 'last.ckpt', sentinel)
    (run / 'config.yaml').write_text('task: classify\n')      # a run directory, as a run writes it
    p = graphlab('train', 'classify', f'run_dir={run}', '--resume', cwd=workdir)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert 'refusing to load' in p.stderr and 'last.ckpt' in p.stderr, p.stderr
    assert not sentinel.exists()
    p = graphlab('train', 'classify', f'trainer.checkpoint.resume={run}/checkpoints/last.ckpt', cwd=workdir)
    assert p.returncode == 2 and not sentinel.exists(), p.stderr
