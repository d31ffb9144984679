"""Run directories that record what happened: trackers, evaluate/explain of a saved run, the run-dir lock,
resume rules, validation before creation, and checkpoints that never hold NaN."""
import json, os

import torch

from conftest import graphlab
from graphlab.cli import main

TOY = ['toy', 'trainer.max_epochs=2', 'trainer.optim.lr=0.05', 'profile=false']


def test_mlflow_run_and_evaluate_reproduces(workdir):
    p = graphlab('train', *TOY, 'trainer.loggers=[mlflow]', 'run_dir=r', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert list((workdir / 'outputs' / 'mlruns').rglob('meta.yaml'))                      # a local MLflow store
    m = json.loads((workdir / 'r' / 'metrics.json').read_text())
    p = graphlab('evaluate', 'r', cwd=workdir)
    assert p.returncode == 0, p.stderr
    e = json.loads((workdir / 'r' / 'evaluations' / f"test-{m['weights'] if m['weights'] == 'last' else 'best'}.json").read_text())
    assert e['test_accuracy'] == m['test_accuracy'], (e, m)
    assert main(['evaluate', str(workdir / 'r'), '--weights', 'swa']) == 2


def test_explain_a_classify_run(workdir, cli, capsys):
    code, _, err = cli('train', 'classify', 'trainer.max_epochs=1', 'profile=false', 'run_dir=c')
    assert code == 0, err
    code, _, err = cli('explain', 'c', '--method', 'saliency', '--n', '4')
    assert code == 0, err
    npz = next((workdir / 'c' / 'explanations').glob('saliency-*.npz'))
    import numpy as np
    assert np.load(npz)['maps'].shape[0] == 4 and next((workdir / 'c' / 'explanations').glob('*.png'))
    scores = json.loads(npz.with_suffix('.json').read_text())          # faithfulness of the maps, for `report`
    assert 0 <= scores['explain_saliency_deletion_auc'] <= 1 and scores['n'] == 4, scores
    assert np.load(npz)['insertion_auc'].shape == (4,)
    assert main(['report', str(workdir / 'c')]) == 0
    assert 'saliency deletion AUC' in capsys.readouterr().out
    assert main(['explain', str(workdir / 'r_missing')]) == 2
    assert 'neither a run directory' in capsys.readouterr().err


def test_lock_resume_rules_and_validation(workdir, cli):
    from graphlab.runs import RunLock
    (workdir / 'busy').mkdir()
    with RunLock(workdir / 'busy'):
        p = graphlab('train', *TOY, 'run_dir=busy', cwd=workdir)
    assert p.returncode == 2 and f'(PID {os.getpid()})' in p.stderr, p.stderr
    for bad in ('trainer.batch_size=0', 'trainer.precision=fp16', 'trainer.optim.lr=inf'):   # in this process from here
        code, _, err = cli('train', *TOY, bad)
        assert code == 2 and 'Traceback' not in err, err
    assert not (workdir / 'outputs' / 'runs').exists()                                     # nothing created
    assert cli('train', *TOY, 'run_dir=r')[0] == 0
    before = (workdir / 'r' / 'config.yaml').read_text()
    code, _, err = cli('train', 'toy', 'run_dir=r', '--resume', 'arch=linear', 'trainer.max_epochs=3')
    assert code == 2 and "arch ('mlp' -> 'linear')" in err, err
    assert (workdir / 'r' / 'config.yaml').read_text() == before                           # not rewritten
    code, _, err = cli('train', 'toy', 'run_dir=r', '--resume', 'trainer.max_epochs=3', 'trainer.optim.lr=0.01')
    assert code == 0, err
    rec = json.loads((workdir / 'r' / 'resumes.jsonl').read_text().splitlines()[-1])
    assert set(rec['changed']) == {'trainer.max_epochs', 'trainer.optim.lr'}
    assert json.loads((workdir / 'r' / 'metrics.json').read_text())['epochs'] == 3


# from here on `graphlab` runs in this process (`cli`) where the process itself is not what is checked
def test_nonfinite_losses_never_reach_a_checkpoint(workdir, cli):
    code, _, err = cli('train', 'classify', 'trainer.max_epochs=4', 'trainer.optim.lr=3000', 'trainer.schedule.name=none',
                       'profile=false', 'run_dir=nan')
    assert code in (0, 1) and 'Traceback' not in err, err
    for ck in (workdir / 'nan' / 'checkpoints').glob('*.ckpt'):
        s = torch.load(ck, map_location='cpu', weights_only=True)
        assert all(torch.isfinite(v).all() for v in s['model'].values() if v.is_floating_point()), ck
    if code == 1:
        assert 'training stopped' in err and ('last good checkpoint is' in err or 'No checkpoint was written' in err)


def test_nan_stop_in_a_resumed_run_names_its_good_checkpoint(workdir, cli):
    "F3 (issue 22): a resumed run that stops on NaN names last.ckpt (good, from before the resume), not 'none'."
    assert cli('train', 'toy', 'trainer.max_epochs=2', 'run_dir=n')[0] == 0
    code, out, err = cli('train', 'toy', 'trainer.max_epochs=4', 'run_dir=n', '--resume', 'trainer.optim.lr=1e30')
    assert code == 1 and 'training stopped' in err, err
    assert 'last good checkpoint is n/checkpoints/last.ckpt' in err and 'No checkpoint was written' not in err
    assert "good checkpoint is none" not in out + err


def test_mlflow_uri_that_cannot_be_used_is_named_before_a_run_dir_is_kept(workdir):
    "F11 (issue 22): a file:// store of the user's works; a server that does not answer ends in one line, nothing kept."
    import subprocess
    from conftest import GRAPHLAB, env
    args = [GRAPHLAB, 'train', 'toy', 'trainer.max_epochs=1', 'trainer.loggers=[mlflow]']
    run = lambda d, uri: subprocess.run([*args, f'run_dir={d}'], cwd=workdir, env=env(MLFLOW_TRACKING_URI=uri),
                                        capture_output=True, text=True, timeout=300)
    p = run('f', (workdir / 'mine').as_uri())
    assert p.returncode == 0, p.stderr
    assert (workdir / 'mine').is_dir() and (workdir / 'f' / 'metrics.json').is_file()
    p = run('h', 'http://127.0.0.1:9')
    assert p.returncode == 2 and 'MLflow at MLFLOW_TRACKING_URI=http://127.0.0.1:9 cannot be used' in p.stderr, p.stderr
    assert 'Traceback' not in p.stderr and not (workdir / 'h').exists()


def test_a_run_written_before_the_trainer_sections_is_evaluated_and_resumed(workdir, cli):
    "Issue 21 §3: a run whose config.yaml (and checkpoint) hold the flat trainer keys of before stays usable."
    import yaml
    from graphlab.trainer.config import TrainerConfig
    assert cli('train', *TOY, 'run_dir=old')[0] == 0
    t = yaml.safe_load((workdir / 'old' / 'config.yaml').read_text())['trainer']
    flat = {k: v for k, v in t.items() if not isinstance(v, dict)}
    for old, new in TrainerConfig.renamed.items():           # back to the old form, key by key
        sec, leaf = new.split('.')
        flat[old] = t[sec][leaf]
    cfg = yaml.safe_load((workdir / 'old' / 'config.yaml').read_text())
    (workdir / 'old' / 'config.yaml').write_text(yaml.safe_dump({**cfg, 'trainer': flat}, sort_keys=False))
    ck = workdir / 'old' / 'checkpoints' / 'last.ckpt'
    s = torch.load(ck, map_location='cpu', weights_only=True)
    s['config']['trainer'] = flat
    torch.save(s, ck)
    code, _, err = cli('evaluate', 'old')
    assert code == 0, err
    code, out, err = cli('train', 'toy', 'run_dir=old', '--resume', 'trainer.max_epochs=3', 'trainer.optim.lr=0.01',
                         'trainer.debug=true')
    assert code == 0, err
    assert 'learning rate rescaled by 0.2 (trainer.optim.lr 0.05 -> 0.01)' in out, out
    rec = json.loads((workdir / 'old' / 'resumes.jsonl').read_text().splitlines()[-1])
    assert set(rec['changed']) == {'trainer.max_epochs', 'trainer.optim.lr', 'trainer.debug'}, rec
    assert yaml.safe_load((workdir / 'old' / 'config.yaml').read_text())['trainer']['optim']['lr'] == 0.01   # written anew


def test_log_txt_wall_s_and_closing_lines_with_baselines(cli, tmp_path):
    "log.txt holds the epoch and closing lines, time-stamped; history.csv has wall_s; the baselines sit beside the run."
    import pandas as pd
    from dataclasses import dataclass
    from graphlab.tasks import register_task
    from graphlab.data import DataReport
    from graphlab.tasks.toy import Toy, ToyConfig

    @dataclass
    class _LoggedConfig(ToyConfig): pass

    @register_task('_logged')
    class _Logged(Toy):
        config_class = _LoggedConfig
        def baselines(self): return {'linear': {'arch': 'linear'}}
        def setup(self):
            super().setup(); self.data_report = DataReport(kind='points', loaded=len(self.datasets['train']))

    code, out, err = cli('train', '_logged', 'trainer.max_epochs=2', 'trainer.optim.lr=0.05', 'profile=false', 'run_dir=r')
    assert code == 0, err
    first, last = out.strip().splitlines()[-2:]
    assert first.startswith('baselines, test_accuracy: linear=') and 'more figures in metrics.json' in first, out
    assert last.startswith('run: r | test_accuracy=') and max(len(first), len(last)) <= 120, out
    log = (tmp_path / 'r' / 'log.txt').read_text().splitlines()
    assert [l.split(' ', 3)[3][:8] for l in log if ' epoch ' in l] == ['epoch 1:', 'epoch 2:'], log
    assert log[-1].endswith(last) and log[-2].endswith(first), log
    # the data report line: printed once (not again per baseline), in each log.txt
    assert out.count('points loaded') == 1 and any(l.endswith('points loaded, 0 skipped') for l in log), out
    assert 'points loaded' in (tmp_path / 'r' / 'baselines' / 'linear' / 'log.txt').read_text()
    w = pd.read_csv(tmp_path / 'r' / 'history.csv').wall_s
    assert w.iloc[0] > 0 and w.iloc[1] > w.iloc[0], w
