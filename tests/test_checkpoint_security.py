"""A checkpoint whose pickle would run code when loaded is refused, and the code does not run."""
import os

import pytest
import torch

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


def test_resume_from_malicious_checkpoint_exits_2(workdir, cli):
    "In this process (`cli`): had the checkpoint been unpickled, its code would have run here and written `sentinel`."
    run, sentinel = workdir / 'run', workdir / 'pwned'
    write_malicious(run / 'checkpoints' / 'last.ckpt', sentinel)
    (run / 'config.yaml').write_text('task: classify\n')      # a run directory, as a run writes it
    code, _, err = cli('train', 'classify', f'run_dir={run}', '--resume')
    assert code == 2, (code, err)
    assert 'refusing to load' in err and 'last.ckpt' in err, err
    assert not sentinel.exists()
    code, _, err = cli('train', 'classify', f'trainer.checkpoint.resume={run}/checkpoints/last.ckpt')
    assert code == 2 and not sentinel.exists(), err
