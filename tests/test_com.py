"""`graphlab data com` and `graphlab train com` on folders of graph files: corrupt files are skipped and listed,
empty or missing folders exit 2. One training run goes through the installed command; the rest calls the CLI's `main`
in this process (the same code, without ~10 s of start-up per process on the shared CI machine)."""
import json

import numpy as np

from conftest import graphlab
from graphlab.cli import main

TINY = ['trainer.max_epochs=1', 'hidden_dim=16', 'num_layers=1', 'trainer.batch_size=8', 'profile=false']


def test_data_writes_a_folder_and_train_skips_corrupt_files(workdir):
    assert main(['data', 'com', '--out', str(workdir / 'g'), '--n', '40', '--seed', '1']) == 0
    files = sorted((workdir / 'g').glob('*.npz'))
    assert len(files) == 40
    files[3].write_bytes(b'not an npz file')
    np.savez(files[7], pos=np.full((4, 3), np.nan))
    np.savez(files[9], pos=np.zeros((5, 3)), mass=-np.ones(5))
    p = graphlab('train', 'com', f'data_dir={workdir / "g"}', *TINY, f'run_dir={workdir / "run"}', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert '37 graphs loaded, 3 skipped: see data_report.json' in p.stdout
    rep = json.loads((workdir / 'run' / 'data_report.json').read_text())
    assert [s['item'] for s in rep['skipped']] == [files[i].name for i in (3, 7, 9)]
    assert 'unreadable' in rep['skipped'][0]['reason'] and 'non-finite' in rep['skipped'][1]['reason']
    assert 'non-positive' in rep['skipped'][2]['reason']
    m = json.loads((workdir / 'run' / 'metrics.json').read_text())
    for k in ['mae', 'mae_x', 'mae_y', 'mae_z', 'mse', 'mse_x', 'mse_y', 'mse_z', 'rotated_mae', 'rotated_mse', 'centroid_mae',
              'equivariance_error']:
        assert f'test_{k}' in m, k
    assert m['epochs'] == 1 and m['test_equivariance_error'] < 1e-9 and m['data']['train_graphs'] > 0


def test_empty_or_missing_folder_exits_2(workdir, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    def train(folder) -> tuple[int, str]:
        rc = main(['train', 'com', f'data_dir={folder}', *TINY])
        return rc, capsys.readouterr().err
    (workdir / 'empty').mkdir()
    rc, err = train(workdir / 'empty')
    assert rc == 2 and 'no graphs found' in err, err
    rc, err = train(workdir / 'missing')
    assert rc == 2 and 'is not a folder' in err, err
    (workdir / 'empty' / 'bad.npz').write_bytes(b'x')
    rc, err = train(workdir / 'empty')
    assert rc == 2 and 'none of the 1 graphs' in err and 'bad.npz' in err, err
