"""Exact resume after SIGKILL: a run killed right after the checkpoint of epoch k and resumed
ends with model and optimizer states bitwise equal (SHA-256) to an uninterrupted run."""
import hashlib, os, signal, subprocess

import torch

from conftest import GRAPHLAB, env, graphlab

ARGS = ['classify', 'trainer.max_epochs=5', 'trainer.batch_size=16', 'trainer.deterministic=true', 'seed=7',
        'profile=false', 'pixel_baselines=false']     # what this test checks is the training state


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
    assert (full / 'metrics.json').read_text().count('"test_accuracy"') == 1     # the key once (baseline_*_test_accuracy beside it)
    a, b = (open(d / 'history.csv').read().splitlines() for d in (full, cut))
    strip = lambda rows: [r.split(',')[:2] + r.split(',')[4:7] for r in rows]   # drop the timing columns
    assert len(a) == len(b) == 6 and strip(a) == strip(b)


# the two tests below check what is written, not the process: they run `graphlab` in this process (`cli`)
def test_resume_from_a_file_is_not_kept_for_the_next_resume(workdir, cli):
    "F1 (issue 22): trainer.checkpoint.resume=<file> once; a later plain --resume continues the run's last.ckpt, not that file."
    run, args = workdir / 'r', ['toy', 'trainer.batch_size=16', 'seed=1']
    assert cli('train', *args, 'trainer.max_epochs=2', f'run_dir={run}')[0] == 0
    old = workdir / 'epoch2.ckpt'
    old.write_bytes((run / 'checkpoints' / 'last.ckpt').read_bytes())
    code, _, err = cli('train', *args, 'trainer.max_epochs=3', f'run_dir={run}', '--resume', f'trainer.checkpoint.resume={old}')
    assert code == 0, err
    assert "resume: ''" in (run / 'config.yaml').read_text()
    code, _, err = cli('train', *args, 'trainer.max_epochs=4', f'run_dir={run}', '--resume')
    assert code == 0, err
    epochs = [int(line.split(',')[0]) for line in (run / 'history.csv').read_text().splitlines()[1:]]
    assert epochs == [1, 2, 3, 4], epochs                       # epoch 3 kept, not trained again from epoch 2
    assert torch.load(run / 'checkpoints' / 'last.ckpt', weights_only=True)['epoch'] == 4


def test_a_refused_resume_leaves_the_run_as_it_was(workdir, cli):
    "F2 (issue 22): a resume whose checkpoint does not fit is refused before config.yaml or resumes.jsonl change."
    a, b = workdir / 'a', workdir / 'b'
    assert cli('train', 'toy', 'trainer.max_epochs=2', f'run_dir={a}')[0] == 0
    assert cli('train', 'toy', 'arch=linear', 'trainer.max_epochs=2', f'run_dir={b}')[0] == 0
    saved = (a / 'config.yaml').read_bytes()
    code, _, err = cli('train', 'toy', 'trainer.max_epochs=3', f'run_dir={a}', '--resume',
                       f"trainer.checkpoint.resume={b / 'checkpoints' / 'last.ckpt'}")
    assert code == 2 and 'does not fit' in err, err
    assert (a / 'config.yaml').read_bytes() == saved and not (a / 'resumes.jsonl').exists()
    code, _, err = cli('train', 'toy', 'trainer.max_epochs=3', f'run_dir={a}', '--resume')
    assert code == 0, err
    assert len((a / 'resumes.jsonl').read_text().splitlines()) == 1
