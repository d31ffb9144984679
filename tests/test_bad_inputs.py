"""Inputs that used to end in a traceback (issue 13, section 3): each now ends in one line naming the problem."""
import os, resource, signal, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, env
from graphlab.cli import main
from graphlab.core import InputError, OutputError
from graphlab.data import cached, split_indices
from graphlab.data.image_graphs import GraphImageSpec, image_graphs
from graphlab.data.images import image_folder
from graphlab.trainer.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint


# --- an image folder with a class too small for a stratified split ---------------------------------------------------

def make_folder(root: Path, sizes: dict) -> Path:
    for c, n in sizes.items():
        (root / c).mkdir(parents=True)
        for i in range(n): Image.new('RGB', (8, 8), (10 * i, 100, 200)).save(root / c / f'{i}.png')
    return root


@pytest.mark.parametrize('sizes', [{'cat': 12, 'dog': 2}, {'cat': 20, 'dog': 1}])
def test_small_class_is_named(tmp_path, sizes):
    root = make_folder(tmp_path / 'images', sizes)
    with pytest.raises(InputError, match=rf"class 'dog' has {sizes['dog']} sample"):
        image_folder(str(root), resolution=8)


def test_split_errors_name_the_split():
    with pytest.raises(InputError, match=r"class 2 has 1 sample"):
        split_indices(41, labels=[0] * 20 + [1] * 20 + [2])
    # 10 classes of 3: a 15 % test split holds 4 samples, too few to hold one of each class
    with pytest.raises(InputError, match=r"the test split would hold 4 samples for 10 classes.*test_fraction"):
        split_indices(30, labels=np.repeat(np.arange(10), 3))
    # a large test split can leave a class with one sample for train and val
    with pytest.raises(InputError, match=r"class 1 .*train and val"):
        split_indices(40, {'train': 0.2, 'val': 0.2, 'test': 0.6}, labels=[0] * 37 + [1] * 3)
    test = split_indices(210, labels=[0] * 200 + [1] * 10)['test']     # a 20:1 imbalance with enough samples splits
    assert len(test) == 32


def test_small_class_cli_exits_2(tmp_path, capsys):
    root = make_folder(tmp_path / 'images', {'cat': 12, 'dog': 2})
    rc = main(['train', 'classify', 'data=folder', f'data_root={root}', 'resolution=8', 'trainer.max_epochs=1', 'trainer.batch_size=4',
               f'run_dir={tmp_path / "run"}'])
    err = capsys.readouterr().err
    assert rc == 2 and "class 'dog' has 2 samples" in err and 'Traceback' not in err, err


# --- a generated-data cache that loads but holds something else, or is truncated ----------------------------------

SPEC = GraphImageSpec(n_min=4, n_max=6, max_nodes=6, k_min=1, k_max=2, resolution=32)


def test_wrong_cache_contents_are_regenerated(tmp_path, capsys):
    good = image_graphs(SPEC, n=3, root=tmp_path)
    f, = tmp_path.glob('image_graphs/*/data.pt')
    torch.save({'something': torch.zeros(3)}, f)                      # loads fine, but is not this data
    capsys.readouterr()
    again = image_graphs(SPEC, n=3, root=tmp_path)
    err = capsys.readouterr().err
    assert 'regenerating' in err and str(f) in err and len(err.strip().splitlines()) == 1, err
    assert torch.equal(again[0]['image'], good[0]['image'])
    assert set(torch.load(f, weights_only=True)) >= {'images', 'coords'}   # the file was rewritten


def test_truncated_cache_is_regenerated(tmp_path, capsys):
    good = image_graphs(SPEC, n=3, root=tmp_path)
    f, = tmp_path.glob('image_graphs/*/data.pt')
    f.write_bytes(f.read_bytes()[:200])
    capsys.readouterr()
    again = image_graphs(SPEC, n=3, root=tmp_path)
    err = capsys.readouterr().err
    assert 'regenerating' in err and 'unreadable' in err, err
    assert torch.equal(again[2]['adj'], good[2]['adj'])
    assert not list(f.parent.glob('.*.tmp'))
    capsys.readouterr(); image_graphs(SPEC, n=3, root=tmp_path)
    assert capsys.readouterr().err == ''                              # the regenerated file loads


def test_cache_folder_that_cannot_be_made(tmp_path):
    (tmp_path / 'file').write_text('a file, not a folder')
    with pytest.raises(OutputError, match=r"cannot write '.*file/image_graphs/.*data.pt': Not a directory"):
        cached('image_graphs', {'n': 1}, lambda: {'x': torch.zeros(1)}, root=tmp_path / 'file')


def _fsize_limit():
    "Child process: files may not grow past 16 KiB (a full disk, as far as the writer can tell)."
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))


def test_full_disk_while_caching(tmp_path):
    code = ("from graphlab.data.image_graphs import GraphImageSpec, image_graphs\n"
            f"image_graphs(GraphImageSpec(resolution=32), n=10, root={str(tmp_path)!r})")
    p = subprocess.run([sys.executable, '-c', code], env=env(), cwd=ROOT, capture_output=True, text=True,
                       preexec_fn=_fsize_limit, timeout=120)
    # torch.save reports the failed write as '[enforce fail at inline_container.cc] unexpected pos', not as EFBIG/ENOSPC
    assert p.returncode == 1 and "OutputError: cannot write '" in p.stderr and 'data.pt' in p.stderr, p.stderr
    assert not list(tmp_path.rglob('*.pt')) and not list(tmp_path.rglob('.*.tmp'))   # nothing half-written is left


# --- a checkpoint that is not a checkpoint -----------------------------------------------------------------------------

def _ckpt_dir(tmp_path):
    d = tmp_path / 'checkpoints'
    state = {'format': CHECKPOINT_FORMAT, 'epoch': 2, 'model': {'w': torch.zeros(64, 64)}}
    save_checkpoint(state, d / 'epoch=002-val_loss=0.5000.ckpt')
    return d, (d / 'epoch=002-val_loss=0.5000.ckpt').read_bytes()


def test_random_bytes_checkpoint_is_corrupt(tmp_path):
    d, _ = _ckpt_dir(tmp_path)
    (d / 'last.ckpt').write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(CheckpointError) as e: load_checkpoint(d / 'last.ckpt')
    msg = str(e.value)
    assert 'not a checkpoint' in msg and 'could run code' not in msg, msg
    assert f"trainer.checkpoint.resume={d / 'epoch=002-val_loss=0.5000.ckpt'}" in msg, msg


def test_truncated_checkpoint_suggests_best(tmp_path):
    d, blob = _ckpt_dir(tmp_path)
    (d / 'last.ckpt').write_bytes(blob[:len(blob) // 2])
    with pytest.raises(CheckpointError, match=r"truncated or corrupt.*trainer.checkpoint.resume=.*epoch=002"):
        load_checkpoint(d / 'last.ckpt')
    (d / 'epoch=002-val_loss=0.5000.ckpt').write_bytes(b'')          # no good checkpoint left to suggest
    with pytest.raises(CheckpointError) as e: load_checkpoint(d / 'last.ckpt')
    assert 'trainer.checkpoint.resume=' not in str(e.value) and 'no other readable checkpoint' in str(e.value), str(e.value)


# --- graphlab profile with a size that cannot be profiled ---------------------------------------------------------------

@pytest.mark.parametrize('args, says', [(['--resolution', '0'], '--resolution 0:'), (['--resolution', '32', '-3'], '--resolution -3:'),
                                        (['--batch-size', '0'], '--batch-size 0:'), (['--stem-stride', '0'], '--stem-stride 0:')])
def test_profile_bad_sizes_exit_2(capsys, args, says):
    rc = main(['profile', 'convnet_small', *args])
    err = capsys.readouterr().err
    assert rc == 2 and says in err and 'Traceback' not in err, err


def test_profile_input_too_small_for_the_model(capsys):
    rc = main(['profile', 'convnext_atto', '--resolution', '2', '--stem-stride', '4'])
    err = capsys.readouterr().err
    assert rc == 2 and 'cannot run on' in err and 'Traceback' not in err, err


# --- an output folder that cannot be written ----------------------------------------------------------------------------

def test_run_dir_under_a_file_exits_2(tmp_path, capsys):
    (tmp_path / 'file').write_text('not a folder')
    rc = main(['train', 'classify', f'run_dir={tmp_path / "file" / "run"}', 'trainer.max_epochs=1'])
    err = capsys.readouterr().err
    assert rc == 2 and 'Not a directory' in err and 'Traceback' not in err, err


# --- config extremes (issue 22 F16) ----------------------------------------------------------------------------------

def test_negative_sample_count_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(['train', 'toy', 'n=-1']) == 2
    assert "config key 'n': -1" in capsys.readouterr().err and not (tmp_path / 'outputs').exists()


def test_weights_of_another_model_are_named(tmp_path, capsys, monkeypatch):
    "F14 (issue 22): evaluate / explain with a checkpoint that does not fit the run's model: exit 2, one line."
    monkeypatch.chdir(tmp_path)
    assert main(['train', 'toy', 'trainer.max_epochs=1', 'run_dir=a', 'trainer.progress=none']) == 0
    assert main(['train', 'toy', 'arch=linear', 'trainer.max_epochs=1', 'run_dir=b', 'trainer.progress=none']) == 0
    (tmp_path / 'a' / 'checkpoints' / 'other.ckpt').write_bytes((tmp_path / 'b' / 'checkpoints' / 'last.ckpt').read_bytes())
    capsys.readouterr()
    for cmd in ('evaluate', 'explain'):
        assert main([cmd, 'a/checkpoints/other.ckpt']) == 2
        err = capsys.readouterr().err
        assert 'holds the weights of another model' in err and 'Traceback' not in err, err


def test_truncated_best_checkpoint_points_at_a_readable_last(tmp_path):
    "F18 (issue 22): a damaged best checkpoint names last.ckpt, which is readable, instead of 'start the run again'."
    d, blob = _ckpt_dir(tmp_path)
    (d / 'last.ckpt').write_bytes(blob)
    (d / 'epoch=002-val_loss=0.5000.ckpt').write_bytes(blob[:100])
    with pytest.raises(CheckpointError) as e: load_checkpoint(d / 'epoch=002-val_loss=0.5000.ckpt')
    assert 'readable ones: last.ckpt' in str(e.value) and 'start the run again' not in str(e.value), str(e.value)
    with pytest.raises(CheckpointError) as e: load_checkpoint(d / 'missing.ckpt')
    assert 'without resume' not in str(e.value)


@pytest.mark.parametrize('args,msg', [(['toy', 'trainer.devices=100'], "this machine has"),
                                      (['toy', 'trainer.num_workers=1000'], "loader processes for"),
                                      (['mesh', 'num_vertices=1000000000'], "more than 20,000 vertices")])
def test_runaway_sizes_are_bounded_by_the_machine(tmp_path, capsys, monkeypatch, args, msg):
    "F10 (issue 22): processes, loader workers and mesh sizes a machine cannot hold are refused before anything starts."
    monkeypatch.chdir(tmp_path)
    assert main(['train', *args]) == 2
    assert msg in capsys.readouterr().err and not (tmp_path / 'outputs').exists()


def test_explain_more_images_than_the_test_split(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(['train', 'classify', 'trainer.max_epochs=1', 'profile=false', 'run_dir=r', 'trainer.progress=none']) == 0
    capsys.readouterr()
    assert main(['explain', 'r', '--n', '100000']) == 2
    assert "the run's test split has" in capsys.readouterr().err
