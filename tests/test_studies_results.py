"""The results study on a one-epoch grid derived from the shipped one: every system runs, the report builds a
table with a line per system and a verdict column."""
import pandas as pd
import yaml

from conftest import ROOT, graphlab

# the smallest data of each task that still has every split (a system of results.yaml whose task is missing here
# fails the test: give it a small budget below)
SMALL = {'classify': lambda o: {'n_samples': 200, 'resolution': 16} if o.get('data') == 'fine_detail' else {},
         'com': lambda o: {'n_graphs': 120},
         'nbody': lambda o: {'n_train': 100, 'n_val': 50, 'n_test': 50},
         'image2graph': lambda o: {'n_train': 64, 'n_val': 16, 'n_test': 16, 'trainer.batch_size': 16},
         'mesh': lambda o: {'num_vertices': 64, 'k': 6, 'channels': [8, 16], 'global_dim': 32, 'embedding_dim': 16},
         'brain': lambda o: {'window': 16, 'stride': 40, 'hidden': 8} if o.get('data') == 'hcp' else
                            {'n_subjects': 4, 'n_regions': 12, 'n_frames': 80, 'window': 16, 'horizon': 2, 'k': 3,
                             'hidden': 8, 'n_blocks': 4, 'stride': 8, 'trainer.batch_size': 8}}


def smoke_grid() -> dict:
    grid = yaml.safe_load((ROOT / 'nbs' / 'studies' / 'results.yaml').read_text())
    for entry in grid['parameters']['system']:
        assert entry['task'] in SMALL, f"results.yaml system {entry['system']}: add a small budget for task {entry['task']} to SMALL"
        o = entry['overrides']
        entry['overrides'] = {**o, **SMALL[entry['task']](o), 'trainer.max_epochs': 1}
    return {**grid, 'seeds': [0]}


def test_results_study_builds_the_table(tmp_path):
    grid = smoke_grid()
    (tmp_path / 'g.yaml').write_text(yaml.safe_dump(grid, allow_unicode=True, sort_keys=False))
    p = graphlab('study', 'results', '--grid', tmp_path / 'g.yaml', '--out', tmp_path / 'out', '--study-id', 's',
                 '--workers', '2', cwd=ROOT, timeout=900)
    assert p.returncode == 0, (p.stdout, p.stderr)
    d = tmp_path / 'out' / 'results' / 's'
    t = pd.read_csv(d / 'results.csv', keep_default_na=False)
    systems = [e['system'] for e in grid['parameters']['system']]
    assert list(dict.fromkeys(t.system)) == systems
    assert sorted(p.name for p in (d / 'runs').iterdir()) == sorted(f'system={s},seed=0' for s in systems)   # named by system
    assert 'verdict' in t and set(t.verdict) <= {'n/a', ''}                 # one seed: no interval, no verdict
    assert (t[t.baseline != ''].groupby('system').size() >= 1).all()       # every system has a baseline
    md = (d / 'results.md').read_text()
    assert '| verdict |' in md and all(f'| {s} |' in md for s in systems)
    assert all((d / 'figures' / f'{s}.png').is_file() for s in systems) and (d / 'report.html').is_file()
