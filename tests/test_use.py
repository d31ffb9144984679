"""`graphlab predict`, `export` and `doctor` on tiny runs: good files predicted, bad ones named (exit 2), the exported
TorchScript model matches PyTorch, a model that cannot be exported is refused with the reason."""
import json
from unittest import mock
from importlib.util import find_spec

import h5py
import numpy as np
import pandas as pd
import torch
import trimesh
from PIL import Image

QUIET = ['profile=false', 'trainer.progress=none']


def test_classify_predict_and_export(cli, tmp_path):
    assert cli('train', 'classify', 'trainer.max_epochs=1', 'pixel_baselines=false', 'run_dir=run', *QUIET)[0] == 0
    img = np.random.default_rng(0).random((8, 8))
    Image.fromarray((img * 255).astype(np.uint8)).save(tmp_path / 'a.png')
    np.save(tmp_path / 'b.npy', img)
    np.save(tmp_path / 'bad.npy', img * 255)
    rc, out, err = cli('predict', 'run', 'a.png', 'b.npy', 'bad.npy', 'gone.png', '--out', 'p.csv')
    assert rc == 2, err
    assert 'bad.npy: values outside [0, 1]' in err and 'expected PNG/JPEG images' in err and 'gone.png: no such file' in err
    p = pd.read_csv(tmp_path / 'p.csv')
    assert p.input.tolist() == ['a.png', 'b.npy'] and p['class'].between(0, 9).all()
    assert (p.run == str(tmp_path / 'run')).all() and p.weights.str.endswith('.ckpt').all()
    assert p['class'][0] == p['class'][1]                            # the same image, as PNG and as an array

    rc, out, err = cli('predict', 'run', 'b.npy')                    # CSV on stdout
    assert rc == 0 and out.splitlines()[0] == 'input,class,class_name,probability,run,weights', out
    rc, _, err = cli('predict', 'run', 'b.npy', '--out', 'p.txt')
    assert rc == 2 and "expected a file ending in .csv, .json, .npz" in err

    rc, out, err = cli('export', 'run', '--format', 'torchscript', '--out', 'm.pt')
    assert rc == 0 and 'max abs difference' in out and 'tolerance 0.0001' in out, err
    x = torch.randn(3, 1, 8, 8)
    assert torch.jit.load(tmp_path / 'm.pt')(x).shape == (3, 10)
    rc, out, err = cli('export', 'run', '--format', 'onnx', '--out', 'm.onnx')      # graphlab[onnx], in the dev install
    assert rc == 0 and 'max abs difference' in out and (tmp_path / 'm.onnx').is_file(), err
    import importlib.util
    with mock.patch.object(importlib.util, 'find_spec', lambda m, *a: None if m == 'onnxruntime' else find_spec(m, *a)):
        rc, _, err = cli('export', 'run', '--format', 'onnx', '--out', 'n.onnx')
    assert rc == 2 and "pip install 'graphlab[onnx]'" in err and 'onnxruntime' in err, err


def test_com_predict_and_export_refused(cli, tmp_path):
    assert cli('data', 'com', '--out', 'g', '--n', '40', '--seed', '1')[0] == 0
    assert cli('train', 'com', 'data_dir=g', 'trainer.max_epochs=1', 'hidden_dim=8', 'num_layers=1', 'trainer.batch_size=8',
               'run_dir=run', *QUIET)[0] == 0
    (tmp_path / 'broken.npz').write_bytes(b'not an npz')
    rc, _, err = cli('predict', 'run', 'g/graph_00000.npz', 'g/graph_00001.npz', 'broken.npz', '--out', 'p.json')
    assert rc == 2 and 'broken.npz: unreadable' in err and 'expected .npz/.pt graph files' in err, err
    j = json.loads((tmp_path / 'p.json').read_text())
    assert [r['input'] for r in j['predictions']] == ['graph_00000.npz', 'graph_00001.npz']
    assert {'com_x', 'com_y', 'com_z'} <= set(j['predictions'][0]) and j['errors'][0]['file'] == 'broken.npz'
    rc, out, _ = cli('predict', 'run', 'g/graph_00002.npz')
    assert rc == 0 and out.splitlines()[0] == 'input,com_x,com_y,com_z,run,weights', out   # the data line went to stderr
    rc, _, err = cli('export', 'run')
    assert rc == 2 and 'cannot be exported to torchscript' in err and 'int' in err, err


def test_mesh_predict_npz(cli, tmp_path):
    from graphlab.data.meshes import generate_mesh_dataset
    root = generate_mesh_dataset(tmp_path / 'data', subjects_per_class=8, meshes_per_subject=2, shapes=('sphere', 'torus'))
    assert cli('train', 'mesh', f'data_dir={root}', 'num_vertices=64', 'k=6', 'channels=[8]', 'global_dim=16',
               'embedding_dim=8', 'samples_per_class=3', 'trainer.max_epochs=1', 'trainer.batch_size=2', 'umap=false',
               'run_dir=run', *QUIET)[0] == 0
    with h5py.File(tmp_path / 'm.h5', 'w') as f:
        for k, m in (('s1/a', trimesh.creation.icosphere(2)), ('s1/b', trimesh.creation.torus(1, 0.3))):
            f[f'{k}/coordinates'], f[f'{k}/normals'] = m.vertices, m.vertex_normals
    trimesh.creation.icosphere(1).export(tmp_path / 'c.obj')
    rc, _, err = cli('predict', 'run', 'm.h5', 'c.obj', '--out', 'p.npz')
    assert rc == 0, err
    with np.load(tmp_path / 'p.npz') as z:
        assert z['input'].tolist() == ['m.h5:/s1/a', 'm.h5:/s1/b', 'c.obj'] and z['embedding'].shape == (3, 8)
        assert str(z['weights']).endswith('.ckpt')
    rc, out, err = cli('export', 'run')                              # the DGCNN traces: kNN graphs inside forward
    assert rc == 0 and 'max abs difference' in out, out + err


def test_unsupported_task_and_doctor(cli, tmp_path):
    assert cli('train', 'toy', 'trainer.max_epochs=1', 'run_dir=run', *QUIET)[0] == 0
    np.save(tmp_path / 'a.npy', np.zeros(2))
    rc, _, err = cli('predict', 'run', 'a.npy')
    assert rc == 2 and "task 'toy' cannot predict" in err, err
    rc, out, err = cli('doctor')
    assert rc == 0, out + err
    assert out.splitlines()[0].split() == ['check', 'status', 'detail'] and 'smoke test cpu' in out


def test_brain_forecast_predict(cli, tmp_path):
    assert cli('train', 'brain', 'n_subjects=4', 'n_regions=12', 'n_frames=80', 'window=16', 'horizon=2', 'k=3',
               'hidden=8', 'n_blocks=4', 'stride=8', 'trainer.max_epochs=1', 'trainer.batch_size=8',
               'pipelines=false', 'baselines=false', 'run_dir=run', *QUIET)[0] == 0
    rng = np.random.default_rng(0)
    np.save(tmp_path / 'r.npy', rng.normal(size=(12, 40)))
    np.savetxt(tmp_path / 'short.csv', rng.normal(size=(12, 5)), delimiter=',')
    rc, _, err = cli('predict', 'run', 'r.npy', 'short.csv', '--out', 'p.npz')
    assert rc == 2 and "short.csv: 5 frames, fewer than the run's window of 16" in err, err
    with np.load(tmp_path / 'p.npz') as z: assert z['input'].tolist() == ['r.npy'] and z['forecast'].shape == (1, 12, 2)
