"""`graphlab train mesh` on a dataset another program wrote (plain h5py, one broken sample), `graphlab data mesh`, bad input."""
import json, subprocess

import h5py
import numpy as np

from conftest import GRAPHLAB, env

TINY = ['num_vertices=64', 'k=6', 'channels=[8,16]', 'global_dim=32', 'embedding_dim=16', 'samples_per_class=3',
        'trainer.max_epochs=1', 'trainer.batch_size=2', 'umap=false', 'profile=false']


def run(*args, cwd):
    return subprocess.run([GRAPHLAB, *map(str, args)], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=600)


def surface(kind: str, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    "Points (area-uniform) and outward normals on a unit sphere, or the surface of a cube, cylinder or cone."
    if kind == 'sphere':
        p = rng.normal(size=(n, 3)); p /= np.linalg.norm(p, axis=1, keepdims=True)
        return p, p.copy()
    if kind == 'cube':
        face = rng.integers(0, 6, n)
        p = rng.uniform(-1, 1, (n, 3)); nrm = np.zeros((n, 3))
        ax, sign = face % 3, np.where(face < 3, 1.0, -1.0)
        p[np.arange(n), ax] = sign; nrm[np.arange(n), ax] = sign
        return p, nrm
    t = rng.uniform(0, 2 * np.pi, n); c, s, zero, one = np.cos(t), np.sin(t), np.zeros(n), np.ones(n)
    if kind == 'cylinder':                                  # radius 1, z in [-1, 1]: side 4π, caps 2π
        side = rng.random(n) < 2 / 3
        z, r = np.where(side, rng.uniform(-1, 1, n), np.where(rng.random(n) < 0.5, -1.0, 1.0)), np.sqrt(rng.random(n))
        p = np.stack([np.where(side, c, r * c), np.where(side, s, r * s), z], 1)
        return p, np.where(side[:, None], np.stack([c, s, zero], 1), np.stack([zero, zero, z], 1))
    side = rng.random(n) < np.sqrt(5) / (1 + np.sqrt(5))   # cone, apex (0, 0, 1), base radius 1 at z = -1: side √5π, base π
    h, r = np.sqrt(rng.random(n)), np.sqrt(rng.random(n))
    p = np.stack([np.where(side, h, r) * c, np.where(side, h, r) * s, np.where(side, 1 - 2 * h, -1.0)], 1)
    return p, np.where(side[:, None], np.stack([2 * c, 2 * s, one], 1) / np.sqrt(5), np.stack([zero, zero, -one], 1))


def write_foreign_dataset(root):
    "The original layout written with plain h5py and json: 2 classes, 3 subjects per class per split, varying V."
    rng, count = np.random.default_rng(0), 0
    for split, n_subj in (('train', 4), ('val', 2), ('test', 2)):
        samples = []
        with h5py.File(root / f'{split}_data.h5', 'w') as f:
            for label, kind in enumerate(('sphere', 'cube')):
                for j in range(n_subj):
                    sid = f'{split}_{kind}_{j}'
                    stretch = rng.uniform(0.7, 1.3, 3)                    # the subject
                    for _ in range(3):
                        count += 1
                        p, nrm = surface(kind, int(rng.integers(70, 130)), rng)
                        g = f.create_group(f'{sid}/mesh_{count:06d}')
                        g.create_dataset('coordinates', data=(p * stretch).astype('f4'))
                        g.create_dataset('normals', data=nrm.astype('f4'))
                        samples.append({'subject_id': sid, 'mesh_id': f'mesh_{count:06d}', 'label': label})
            if split == 'train':                                              # the broken sample
                f['train_sphere_0/mesh_000001/coordinates'][5, 1] = np.nan
                samples.append({'subject_id': 'train_sphere_0', 'mesh_id': 'mesh_999999', 'label': 0})   # listed, absent
        (root / f'{split}_metadata.json').write_text(json.dumps({'samples': samples}))


def write_shapes_dataset(root, seed: int = 0):
    "Four shapes written with plain h5py; a subject is a random per-axis stretch (±40 %) and turn about z of its shape."
    rng, count = np.random.default_rng(seed), 0
    for split, n_subj in (('train', 6), ('val', 2), ('test', 3)):
        samples = []
        with h5py.File(root / f'{split}_data.h5', 'w') as f:
            for label, kind in enumerate(('sphere', 'cube', 'cylinder', 'cone')):
                for j in range(n_subj):
                    sid, D, a = f'{split}_{kind}_{j}', rng.uniform(0.6, 1.4, 3), rng.uniform(0, 2 * np.pi)
                    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
                    for _ in range(3):
                        count += 1
                        p, nrm = surface(kind, int(rng.integers(70, 130)), rng)
                        p, nrm = (p * D) @ R.T + rng.normal(0, 0.02, p.shape), (nrm / D) @ R.T
                        g = f.create_group(f'{sid}/mesh_{count:06d}')
                        g.create_dataset('coordinates', data=p.astype('f4'))
                        g.create_dataset('normals', data=(nrm / np.linalg.norm(nrm, axis=1, keepdims=True)).astype('f4'))
                        samples.append({'subject_id': sid, 'mesh_id': f'mesh_{count:06d}', 'label': label})
        (root / f'{split}_metadata.json').write_text(json.dumps({'samples': samples}))


def test_training_on_a_user_dataset_beats_chance_and_the_untrained_network(workdir):
    "Held-out test subjects: the trained network must classify and retrieve far better than chance and than itself untrained."
    data = workdir / 'shapes'; data.mkdir()
    write_shapes_dataset(data)
    p = run('train', 'mesh', f'data_dir={data}', 'num_vertices=64', 'k=8', 'channels=[16,16,32]', 'global_dim=64',
            'embedding_dim=32', 'samples_per_class=3', 'trainer.max_epochs=15', 'trainer.threads=1', 'umap=false',
            'profile=false', 'plot_every=0', f'run_dir={workdir / "run"}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    m = {k[5:]: v for k, v in json.loads((workdir / 'run' / 'metrics.json').read_text()).items() if k.startswith('test_')}
    assert m['chance_accuracy'] == 0.25 and m['untrained_map_at_r'] < 0.7, m   # raw geometry does not already solve it
    assert m['accuracy'] >= 0.85, m                       # 36 test meshes of 12 unseen subjects; chance 0.25
    # Recall@1 of the untrained network reaches 0.86 on some draws (nearest neighbour of raw geometry), so the clear
    # margin is asked of MAP@R (all R relevant meshes ranked first): untrained 0.32-0.58, trained 0.92-1.0 (9 draws)
    assert m['recall_at_1'] >= max(0.85, m['untrained_recall_at_1']), m
    assert m['map_at_r'] >= m['untrained_map_at_r'] + 0.3 and m['map_at_r'] >= m['chance_map_at_r'] + 0.6, m


def test_foreign_dataset_trains_and_reports_broken_samples(workdir):
    data = workdir / 'foreign'; data.mkdir()
    write_foreign_dataset(data)
    p = run('train', 'mesh', f'data_dir={data}', *TINY, 'cache=false', 'trainer.num_workers=2',
            f'run_dir={workdir / "run"}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert '47 meshes loaded, 2 skipped: see data_report.json' in p.stdout
    rep = json.loads((workdir / 'run' / 'data_report.json').read_text())
    reasons = {s['item']: s['reason'] for s in rep['skipped']}
    assert 'non-finite' in reasons['train/train_sphere_0/mesh_000001']
    assert 'no group' in reasons['train/train_sphere_0/mesh_999999']
    m = json.loads((workdir / 'run' / 'metrics.json').read_text())
    for k in ('accuracy', 'f1', 'mean_class_accuracy', 'recall_at_1', 'recall_at_5', 'map_at_r', 'set_triplet_loss',
              'chance_accuracy', 'chance_recall_at_1'):
        assert np.isfinite(m[f'test_{k}']), k
    assert m['data']['train']['vertices_min'] >= 70 and m['data']['subjects_in_two_splits'] == 0
    assert sorted(p.name for p in (workdir / 'run' / 'plots').glob('*.png')) == ['curves.png', 'loss_parts.png', 'tsne.png']
    hist = (workdir / 'run' / 'history.csv').read_text().splitlines()[0]
    assert all(c in hist for c in ('train_ce', 'train_triplet', 'train_active_triplets', 'val_ce'))


def test_data_writer_and_generated_default(workdir, cli):
    p = run('data', 'mesh', '--out', workdir / 'set', '--n', 72, cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert 'wrote 72 meshes' in p.stdout
    meta = {s: json.loads((workdir / 'set' / f'{s}_metadata.json').read_text())['samples'] for s in ('train', 'val', 'test')}
    subjects = {s: {m['subject_id'] for m in v} for s, v in meta.items()}
    assert not (subjects['train'] & subjects['test']) and not (subjects['val'] & subjects['test'])
    with h5py.File(workdir / 'set' / 'test_data.h5') as f:
        m = meta['test'][0]
        assert f[m['subject_id']][m['mesh_id']]['coordinates'].shape[1] == 3
    # 72 meshes: one subject of each class in each split, so retrieval is undefined: refused (in this process: the
    # installed command's exit code is tests/test_cli.py's)
    code, _, err = cli('train', 'mesh', f'data_dir={workdir / "set"}', *TINY)
    assert code == 2 and 'split has 1 subject of class 0' in err and '--n 192' in err, err
    assert 'Traceback' not in err
    # F12 (issue 22): unreadable metadata, an empty or garbage HDF5 file, integer ids: one line, exit 2, no traceback
    import shutil
    for name, damage in [('latin1', lambda d: (d / 'val_metadata.json').write_bytes(b'\xff\xfe{"samples": []}')),
                         ('empty_h5', lambda d: (d / 'val_data.h5').write_bytes(b'')),
                         ('garbage_h5', lambda d: (d / 'test_data.h5').write_bytes(np.random.default_rng(0).bytes(3000))),
                         ('int_ids', lambda d: (d / 'train_metadata.json').write_text(json.dumps(
                             {'samples': [{'subject_id': 1, 'mesh_id': 2, 'label': 0}]})))]:
        d = workdir / name
        shutil.copytree(workdir / 'set', d)
        damage(d)
        code, _, err = cli('train', 'mesh', f'data_dir={d}', *TINY)
        assert code == 2 and 'Traceback' not in err and err.count('\n') == 1, (name, err)


def test_bad_input_exits_2(workdir):
    (workdir / 'empty').mkdir()          # the reader's other errors are tested in nbs/02d_data_meshes.ipynb
    p = run('train', 'mesh', f'data_dir={workdir / "empty"}', *TINY, cwd=workdir)
    assert p.returncode == 2 and 'train_metadata.json' in p.stderr and 'graphlab data mesh' in p.stderr, p.stderr


def test_fast_dev_run_without_numpy_warnings(tmp_path, monkeypatch):
    "fast_dev_run's one batch per split leaves every retrieval gallery without an answer: Undefined, not numpy's warnings."
    import warnings
    from graphlab.runs import train
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter('error', RuntimeWarning)
        r = train('mesh', [*TINY, 'trainer.fast_dev_run=1', 'trainer.threads=1', 'trainer.progress=none'])
    assert 'no query has a relevant item' in r.metrics['test_chance_map_at_r'].reason, r.metrics
