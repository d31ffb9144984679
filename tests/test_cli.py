"""`graphlab train` end to end on the digits: run directory, final line, resume, exit codes."""
import json

import pandas as pd
import pytest
import yaml

from conftest import graphlab
from graphlab.cli import main


def test_train_classify_writes_the_run_directory(workdir):
    run = workdir / 'run'
    p = graphlab('train', 'classify', 'trainer.max_epochs=2', f'run_dir={run}', 'seed=1', cwd=workdir)
    assert p.returncode == 0, p.stderr
    more, last = p.stdout.strip().splitlines()[-2:]      # the closing lines (graphlab.runs.summary), within 120 chars
    assert last.startswith(f'run: {run} | test_accuracy=') and more.endswith('more figures in metrics.json'), last
    assert (run / 'log.txt').read_text().splitlines()[-1].endswith(last)
    cfg = yaml.safe_load((run / 'config.yaml').read_text())
    assert cfg['task'] == 'classify' and cfg['seed'] == 1 and cfg['trainer']['max_epochs'] == 2
    assert {'torch', 'graphlab', 'python'} <= set(cfg['versions'])
    m = json.loads((run / 'metrics.json').read_text())
    for k in ('test_accuracy', 'test_precision', 'test_recall', 'test_f1', 'test_confusion_matrix',
              'epoch_time_s', 'throughput_samples_s', 'peak_memory_mb'):
        assert k in m, k
    assert len(m['test_confusion_matrix']) == 10 and sum(map(sum, m['test_confusion_matrix'])) == 270
    h = pd.read_csv(run / 'history.csv')
    assert h.epoch.tolist() == [1, 2]
    assert {'train_loss', 'val_loss', 'val_accuracy', 'val_f1', 'lr', 'epoch_time_s'} <= set(h.columns)
    ckpts = sorted(x.name for x in (run / 'checkpoints').iterdir())
    assert 'last.ckpt' in ckpts and any(c.startswith('epoch=') and 'val_accuracy=' in c for c in ckpts), ckpts

    p = graphlab('train', 'classify', f'run_dir={run}', 'trainer.max_epochs=3', '--resume', cwd=workdir)
    assert p.returncode == 0, p.stderr
    assert pd.read_csv(run / 'history.csv').epoch.tolist() == [1, 2, 3]
    assert yaml.safe_load((run / 'config.yaml').read_text())['seed'] == 1   # the run's own config, continued


def test_default_run_dir_and_resume_latest(workdir, cli):
    code, _, err = cli('train', 'classify', 'trainer.max_epochs=1')        # in this process: the same command
    assert code == 0, err
    runs = list((workdir / 'outputs' / 'runs' / 'classify').iterdir())
    assert len(runs) == 1 and (runs[0] / 'metrics.json').is_file()
    code, _, err = cli('train', 'classify', 'trainer.max_epochs=2', '--resume')
    assert code == 0, err
    assert len(pd.read_csv(runs[0] / 'history.csv')) == 2


def test_bad_config_exits_2_and_names_the_key(workdir, cli):
    p = graphlab('train', 'classify', 'trainer.max_epoch=3', cwd=workdir)        # the installed command's exit code
    assert p.returncode == 2 and "'trainer.max_epoch'" in p.stderr and "'trainer.max_epochs'" in p.stderr, p.stderr
    code, _, err = cli('train', 'classify', 'trainer.optim.lr=fast')             # the rest in this process
    assert code == 2 and "'trainer.optim.lr': expected a number" in err, err
    code, _, err = cli('train', 'classify', '--config', workdir / 'missing.yaml')
    assert code == 2 and 'missing.yaml' in err, err
    (workdir / 'bad.yaml').write_text('trainer:\n  optim: {name: adam}\n')
    code, _, err = cli('train', 'classify', '--config', workdir / 'bad.yaml')
    assert code == 2 and "did you mean 'adamw'" in err, err
    assert not (workdir / 'outputs').exists()   # nothing was started


def test_flat_trainer_key_from_before_the_sections_exits_2_naming_its_new_name(workdir, cli):
    code, _, err = cli('train', 'classify', 'trainer.lr=0.01')
    assert code == 2 and ("config key 'trainer.lr' is now 'trainer.optim.lr' (the trainer's keys are grouped in "
                          "sections); use trainer.optim.lr=0.01") in err, err
    (workdir / 'old.yaml').write_text('trainer:\n  scheduler: step\n  gamma: 0.5\n')
    code, _, err = cli('train', 'classify', '--config', workdir / 'old.yaml')
    assert code == 2 and "'trainer.scheduler' is now 'trainer.schedule.name'" in err, err
    assert not (workdir / 'outputs').exists()   # nothing was started


def test_help_lists_tasks_and_keys(workdir):
    p = graphlab('train', '--help', cwd=workdir)
    assert p.returncode == 0 and 'classify' in p.stdout and 'trainer.precision' in p.stdout
    heads = [l.split()[0] for l in p.stdout.splitlines() if l.startswith('  [')]
    assert heads == ['[trainer]', '[trainer.optim]', '[trainer.schedule]', '[trainer.clip]', '[trainer.early_stop]',
                     '[trainer.checkpoint]', '[trainer.swa]', '[trainer.wandb]'], heads   # one heading per section
    assert 'trainer.schedule.decay' in p.stdout and 'trainer.patience ' not in p.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as e: main(['--version'])
    assert e.value.code == 0 and capsys.readouterr().out.startswith('graphlab 0.')
