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


def test_com_predict_and_export(cli, tmp_path):
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
    rc, out, err = cli('export', 'run', '--out', 'm.pt')              # the EGNN reads the graph count from `batch`
    assert rc == 0 and 'on 8 test samples max abs difference' in out and 'tolerance 0.0001' in out, err
    from graphlab.tasks.com import collate_graphs
    from graphlab.data.geometric import build_edges, read_graph_file
    gs = [read_graph_file(tmp_path / f'g/graph_{i:05d}.npz') for i in range(3)]
    b = collate_graphs([dict(g, edge_index=build_edges(g['pos'], 'radius', 2.0, 6)) for g in gs])
    assert torch.jit.load(tmp_path / 'm.pt')(b['h'], b['pos'], b['edge_index'], b['batch']).shape == (3, 3)
    rc, _, err = cli('export', 'run', '--format', 'onnx', '--out', 'm.onnx')
    assert rc == 2 and 'cannot be exported to onnx' in err and 'use --format torchscript' in err, err
    assert not (tmp_path / 'm.onnx').exists()


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


def test_nbody_predict_and_export(cli, tmp_path):
    assert cli('train', 'nbody', 'n_train=20', 'n_val=10', 'n_test=10', 'hidden_dim=8', 'num_layers=1',
               'trainer.max_epochs=1', 'trainer.batch_size=10', 'run_dir=run', *QUIET)[0] == 0
    rng = np.random.default_rng(0)
    np.savez(tmp_path / 'one.npz', loc=rng.normal(size=(5, 3)), vel=rng.normal(size=(5, 3)),
             charges=rng.choice([-1., 1.], size=(5, 1)))                  # the EGNN repository's names
    np.savez(tmp_path / 'two.npz', pos=rng.normal(size=(2, 4, 3)), vel=rng.normal(size=(2, 4, 3)),
             charge=np.ones((2, 4)))                                  # two systems of 4 particles
    np.savez(tmp_path / 'novel.npz', pos=rng.normal(size=(5, 3)), charge=np.ones(5))
    rc, _, err = cli('predict', 'run', 'one.npz', 'two.npz', 'novel.npz', '--out', 'p.csv')
    assert rc == 2 and "novel.npz: no array 'vel'; the file has pos, charge" in err, err
    assert 'expected .npz files of systems' in err
    p = pd.read_csv(tmp_path / 'p.csv')
    assert p.input.tolist() == ['one.npz'] * 5 + ['two.npz:0'] * 4 + ['two.npz:1'] * 4, p
    assert p.particle.tolist() == [0, 1, 2, 3, 4] + [0, 1, 2, 3] * 2 and np.isfinite(p[['x', 'y', 'z']]).all().all()
    assert (p.run == str(tmp_path / 'run')).all() and p.weights.str.endswith('.ckpt').all()
    rc, out, err = cli('export', 'run')
    assert rc == 0 and 'max abs difference' in out, out + err


def _picture(tmp_path, name):
    from graphlab.data.image_graphs import GraphImageSpec, generate
    d = generate(GraphImageSpec(), seed=0, stream=9, start=0, stop=1)
    Image.fromarray((d['images'][64][0, 0].float().clamp(0, 1).numpy() * 255).astype(np.uint8)).save(tmp_path / name)
    return d['coords'][0, :int(d['n_nodes'][0])].numpy()


I2G = ['n_train=16', 'n_val=8', 'n_test=8', 'width=8', 'dim=16', 'hidden=16', 'n_points=8', 'trainer.max_epochs=1',
       'trainer.batch_size=8', 'run_dir=run', *QUIET]


def test_image2graph_model_a_predict(cli, tmp_path):
    assert cli('train', 'image2graph', 'model=a', *I2G)[0] == 0
    _picture(tmp_path, 'a.png')
    np.save(tmp_path / 'wide.npy', np.zeros((64, 32)))
    rc, _, err = cli('predict', 'run', 'a.png', 'wide.npy', '--out', 'p.json')
    assert rc == 2 and 'wide.npy: array of shape (64, 32)' in err and 'expected PNG/JPEG pictures' in err, err
    j = json.loads((tmp_path / 'p.json').read_text())
    g, = j['predictions']
    assert g['input'] == 'a.png' and j['weights'].endswith('.ckpt') and j['errors'][0]['file'] == 'wide.npy'
    assert len(g['nodes']) == len(g['communities']) == len(g['score']) == g['n_nodes'] <= 24
    assert len(g['edges']) == len(g['edge_probability']) and all(i < j < g['n_nodes'] for i, j in g['edges'])


def test_image2graph_model_b_needs_nodes(cli, tmp_path):
    assert cli('train', 'image2graph', 'model=b', *I2G)[0] == 0
    coords = _picture(tmp_path, 'a.png'); _picture(tmp_path, 'b.png')
    np.savetxt(tmp_path / 'a.nodes.csv', coords, delimiter=',')
    rc, _, err = cli('predict', 'run', 'a.png', 'b.png', '--out', 'p.json')
    assert rc == 2 and 'b.png: Model B (this run) predicts edges and communities for given node positions' in err, err
    assert 'b.nodes.csv or b.nodes.npy' in err and 'model=a' in err
    g, = json.loads((tmp_path / 'p.json').read_text())['predictions']
    assert g['input'] == 'a.png' and np.allclose(g['nodes'], coords, atol=1e-4) and len(g['communities']) == len(coords)
    rc, out, _ = cli('predict', 'run', 'a.png')                       # CSV: the lists as JSON text
    assert rc == 0 and json.loads(pd.read_csv(__import__('io').StringIO(out)).nodes[0]) == g['nodes']
