"""PyTorch Geometric datasets in and out: `graphlab train com|mesh data_dir=` on files saved with PyG's own classes
(bad graphs skipped and named in data_report.json, a non-PyG file refused), and `graphlab data com|mesh --format pyg`
output that PyG's `InMemoryDataset` loads. In-process CLI (`cli` fixture), tiny data, one epoch."""
import json

import torch
from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.loader import DataLoader

TINY_COM = ['trainer.max_epochs=1', 'hidden_dim=8', 'num_layers=1', 'trainer.batch_size=8', 'profile=false',
            'trainer.threads=1']
TINY_MESH = ['num_vertices=32', 'k=4', 'channels=[8]', 'global_dim=16', 'embedding_dim=8', 'samples_per_class=2',
             'trainer.max_epochs=1', 'trainer.batch_size=2', 'umap=false', 'profile=false', 'plot_every=0']


def molecule(n: int, g: torch.Generator) -> Data:
    "A PyG graph with atomic numbers (H, C, O) and no masses: the reader takes them from `z`."
    return Data(pos=torch.randn(n, 3, generator=g) * 1.5, z=torch.tensor([1, 6, 8])[torch.arange(n) % 3],
                x=torch.randn(n, 2, generator=g))


def test_train_com_on_a_pyg_dataset_skips_and_names_bad_graphs(cli, tmp_path):
    g = torch.Generator().manual_seed(0)
    data = [molecule(4 + i % 5, g) for i in range(40)]
    data[3].pos[1, 0] = float('nan')                      # non-finite coordinates
    data[7].z[0] = 92                                      # uranium: not in the mass table
    InMemoryDataset.save(data, tmp_path / 'data.pt')
    code, out, err = cli('train', 'com', f'data_dir={tmp_path / "data.pt"}', *TINY_COM, f'run_dir={tmp_path / "run"}')
    assert code == 0, err
    assert '38 graphs loaded, 2 skipped: see data_report.json' in out + err
    rep = json.loads((tmp_path / 'run' / 'data_report.json').read_text())
    assert [s['item'] for s in rep['skipped']] == ['data.pt[3]', 'data.pt[7]']
    assert 'non-finite' in rep['skipped'][0]['reason'] and '[92]' in rep['skipped'][1]['reason']
    m = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert m['epochs'] == 1 and m['data']['train_graphs'] + m['data']['val_graphs'] + m['data']['test_graphs'] == 38
    assert m['test_mae'] >= 0 and m['data']['node_features'] == 2


def test_a_file_that_is_not_a_pyg_dataset_exits_2_naming_it(cli, tmp_path):
    torch.save({'pos': torch.rand(3, 3)}, tmp_path / 'plain.pt')
    code, _, err = cli('train', 'com', f'data_dir={tmp_path / "plain.pt"}', *TINY_COM)
    assert code == 2 and "plain.pt' holds a dict" in err and 'InMemoryDataset.save' in err, err


def test_data_com_format_pyg_loads_in_pyg_and_trains(cli, tmp_path):
    code, out, err = cli('data', 'com', '--format', 'pyg', '--out', tmp_path / 'g', '--n', '30', '--seed', '2')
    assert code == 0 and 'as a PyG dataset' in out, err
    ds = InMemoryDataset()
    ds.load(str(tmp_path / 'g' / 'data.pt'))               # PyG's own loader and batching
    assert len(ds) == 30 and {'pos', 'x', 'z', 'mass', 'edge_index', 'y'} <= set(ds[0].keys())
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch.num_graphs == 4 and batch.y.shape == (4, 3)
    com = torch.stack([(d.mass[:, None] * d.pos).sum(0) / d.mass.sum() for d in ds])
    assert torch.allclose(com, ds.y, atol=1e-5)           # y is the centre of mass of each graph
    code, out, err = cli('train', 'com', f'data_dir={tmp_path / "g"}', *TINY_COM, f'run_dir={tmp_path / "run"}')
    assert code == 0 and '30 graphs loaded, 0 skipped' in out + err, err
    code, _, err = cli('data', 'brain', '--format', 'pyg', '--out', tmp_path / 'b')
    assert code == 2 and "unknown dataset writer 'brain:pyg'" in err and 'com:pyg' in err, err


def sphere(n: int, label: int, subject: int, g: torch.Generator, stretch: float) -> Data:
    p = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    p = p * torch.tensor([1.0, 1.0, stretch])                 # class 0: spheres, class 1: elongated
    return Data(pos=p, normal=torch.nn.functional.normalize(p / torch.tensor([1.0, 1.0, stretch]) ** 2, dim=1),
                y=torch.tensor([label]), subject=torch.tensor([subject]))


def test_train_mesh_on_pyg_splits_and_data_mesh_format_pyg(cli, tmp_path, monkeypatch):
    g, d = torch.Generator().manual_seed(0), tmp_path / 'meshes'
    d.mkdir()
    for k, split in enumerate(('train', 'val', 'test')):
        meshes = [sphere(40, c, 100 * k + 10 * c + s, g, 1.0 + c) for c in (0, 1) for s in (0, 1) for _ in range(2)]
        meshes.append(Data(pos=torch.rand(40, 3), y=torch.tensor([0])))             # no normals: skipped
        torch.save(meshes, d / f'{split}.pt')
    code, out, err = cli('train', 'mesh', f'data_dir={d}', *TINY_MESH, f'run_dir={tmp_path / "run"}')
    assert code == 0, err
    rep = json.loads((tmp_path / 'run' / 'data_report.json').read_text())
    assert rep['loaded'] == 24 and [s['item'] for s in rep['skipped']] == ['train.pt[8]', 'val.pt[8]', 'test.pt[8]']
    assert "'normal'" in rep['skipped'][0]['reason'] and rep['stats']['subjects_in_two_splits'] == 0
    assert 'test_accuracy' in json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    # `graphlab data mesh --format pyg`, on a 2-shape set (the full writer takes ~10 s of trimesh)
    import graphlab.data.pyg as pyg
    from graphlab.data.meshes import generate_mesh_dataset
    monkeypatch.setattr(pyg, 'write_mesh_dataset', lambda out, n, seed: generate_mesh_dataset(
        out, subjects_per_class=3, meshes_per_subject=2, shapes=('sphere', 'box'), seed=seed))
    code, out, err = cli('data', 'mesh', '--format', 'pyg', '--out', tmp_path / 'm')
    assert code == 0 and 'wrote 12 meshes as PyG datasets' in out, err
    ds = InMemoryDataset()
    ds.load(str(tmp_path / 'm' / 'val.pt'))
    assert len(ds) == 4 and ds[0].pos.shape == ds[0].normal.shape and ds[0].subject.dtype == torch.long
