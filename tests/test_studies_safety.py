"""A study directory that never lies: interrupts stop every run, leftovers of a killed runner are ended,
a study id is bound to its grid and run by one process, bad parameters are refused before any run,
and the shipped studies run from anywhere."""
import json, os, signal, subprocess, time

import nbformat
import pandas as pd
import pytest
import psutil
import yaml

from conftest import GRAPHLAB, ROOT, env, graphlab
from graphlab.studies.engine import run_processes
from test_studies import quick_report


def gated_study(d, detach=False):
    """Runs x=2 and x=3 write `started` and then wait while the file `gate` exists; x=1 finishes at once.
    With `detach`, x=2 and x=3 first start a process in a session of its own (which outlives its kernel)."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1\ngate = ''\ndetach = False\nseed = 0\nrun_dir = ''", metadata={'tags': ['parameters']}),
        nbformat.v4.new_code_cell("import json, pathlib, subprocess, time\n"
                                  "if detach and x > 1: subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
                                  "pathlib.Path(run_dir, 'started').touch()\n"
                                  "while x > 1 and pathlib.Path(gate).exists(): time.sleep(0.2)"),
        nbformat.v4.new_code_cell("pathlib.Path(run_dir, 'metrics.json').write_text(json.dumps({'test_y': 2 * x}))")],
        metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}})
    nbformat.write(nb, d / 'gated.ipynb')
    (d / 'gate').touch()
    (d / 'gated.yaml').write_text(yaml.safe_dump({'parameters': {'x': [1, 2, 3], 'gate': str(d / 'gate'), 'detach': detach},
                                                   'report': quick_report(d)}))
    return ['study', d / 'gated.ipynb', '--out', d / 'out', '--study-id', 's', '--workers', '2']


def _ctrl_c_as_at_a_terminal():
    # a test run started in the background (`pytest ... &` in a script) inherits SIGINT ignored, and Python then
    # keeps it ignored: the study would never see the Ctrl-C this file sends. The child gets the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args, cwd):
    return subprocess.Popen([GRAPHLAB, *map(str, args)], cwd=cwd, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_as_at_a_terminal)


def wait_for(cond, timeout=120, what=''):
    t = time.time()
    while not cond():
        assert time.time() - t < timeout, f"timed out waiting for {what}"
        time.sleep(0.2)


def cwds(procs):
    "Working directories of `procs` that are still there."
    out = []
    for p in procs:
        try: out.append(p.cwd())
        except psutil.Error: pass
    return out


def blocked(d, runs=('x=2,seed=0', 'x=3,seed=0')):
    "True once the gated runs have started (their kernels are in the waiting loop)."
    return all((d / 'out' / 'gated' / 's' / 'runs' / r / 'started').is_file() for r in runs)


def test_sigterm_stops_everything_refuses_second_process_and_changed_grid_then_resumes(tmp_path):
    args = gated_study(tmp_path)
    d = tmp_path / 'out' / 'gated' / 's'
    a = start(args, tmp_path)
    wait_for(lambda: blocked(tmp_path), what='the gated runs to start')
    procs = {p.cwd(): p for p in run_processes(d)}                            # a kernel per run, forked from the study's
    assert sorted(procs) == sorted(map(str, [d / 'runs', d / 'runs' / 'x=2,seed=0', d / 'runs' / 'x=3,seed=0'])), procs
    assert {procs[str(d / 'runs' / r)].ppid() for r in ('x=2,seed=0', 'x=3,seed=0')} == {procs[str(d / 'runs')].pid}  # server
    b = graphlab(*args, cwd=tmp_path)                                         # a second process on the same id
    assert b.returncode == 2 and 'is being run by another graphlab process (pid' in b.stderr, b.stderr
    a.send_signal(signal.SIGTERM)
    out, err = a.communicate(timeout=60)
    assert a.returncode == 143, (out, err)
    assert run_processes(d) == []                                             # no process left behind
    s = pd.read_csv(d / 'summary.csv').set_index('run')
    assert s.status.to_dict() == {'x=1,seed=0': 'ok', 'x=2,seed=0': 'interrupted', 'x=3,seed=0': 'interrupted'}, err
    assert 'terminated; every run stopped' in err

    p = graphlab(*args, '-p', 'x=[1,2]', cwd=tmp_path)                       # the id is bound to its grid
    assert p.returncode == 2 and "differs: x: [1, 2, 3] -> [1, 2]" in p.stderr and '--study-id' in p.stderr, p.stderr

    (tmp_path / 'gate').unlink()
    p = graphlab(*args, cwd=tmp_path)                                         # resume: the two interrupted runs
    assert p.returncode == 0 and '2 of 3 runs to execute' in p.stdout, (p.stdout, p.stderr)
    assert (pd.read_csv(d / 'summary.csv').status == 'ok').all()


def test_ctrl_c_then_sigkill_leftovers_are_ended_before_their_directories_are_touched(tmp_path):
    args = gated_study(tmp_path, detach=True)
    d = tmp_path / 'out' / 'gated' / 's'
    a = start(args, tmp_path)
    wait_for(lambda: blocked(tmp_path), what='the gated runs to start')
    a.send_signal(signal.SIGINT)                                             # Ctrl-C
    out, err = a.communicate(timeout=60)
    assert a.returncode == 130 and run_processes(d) == [], (out, err)
    assert 'interrupted' in pd.read_csv(d / 'summary.csv').status.tolist()

    for r in ('x=2,seed=0', 'x=3,seed=0'): (d / 'runs' / r / 'started').unlink(missing_ok=True)
    a = start(args, tmp_path)
    wait_for(lambda: blocked(tmp_path), what='the gated runs to start again')
    a.kill(); a.communicate()                                                # SIGKILL: no chance to clean up
    runs = [str(d / 'runs' / r) for r in ('x=2,seed=0', 'x=3,seed=0')]
    wait_for(lambda: sorted(cwds(run_processes(d))) == runs, timeout=30,
             what="the kernels to end with the killed runner's fork server")
    orphans = run_processes(d)
    assert [o.name() for o in orphans] == ['sleep', 'sleep'], orphans          # what is left: what the runs detached
    p = graphlab(*args, '--aggregate', cwd=tmp_path)                         # the next invocation ends them first
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert not any(o.is_running() and o.status() != psutil.STATUS_ZOMBIE for o in orphans)
    (tmp_path / 'gate').unlink()
    p = graphlab(*args, cwd=tmp_path)
    assert p.returncode == 0 and '2 of 3 runs to execute' in p.stdout, (p.stdout, p.stderr)


def test_unknown_parameter_refused_before_any_run(tmp_path):
    p = graphlab('study', 'train_and_evaluate', '-p', 'trainer.max_epoch=1', '--out', tmp_path / 'out', '--study-id', 's',
                 cwd=tmp_path)
    assert p.returncode == 2 and "unknown config key 'trainer.max_epoch' (did you mean 'trainer.max_epochs'?)" in p.stderr, p.stderr
    assert 'nothing was run' in p.stderr and not (tmp_path / 'out').exists()


def test_shipped_studies_run_from_an_empty_directory(tmp_path):
    p = graphlab('study', '--list-studies', cwd=tmp_path)
    assert p.returncode == 0 and 'train_and_evaluate graphlab' in ' '.join(p.stdout.split()), p.stdout
    (tmp_path / 'g.yaml').write_text(yaml.safe_dump({'parameters': {'task': 'classify', 'trainer.max_epochs': 1}, 'seeds': [0]}))
    p = graphlab('study', 'train_and_evaluate', '--grid', 'g.yaml', '--study-id', 's', cwd=tmp_path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    d = tmp_path / 'outputs' / 'studies' / 'train_and_evaluate' / 's'
    assert pd.read_csv(d / 'summary.csv').status.tolist() == ['ok'] and (d / 'report.html').is_file()
    assert sorted(os.listdir(tmp_path)) == ['g.yaml', 'outputs']             # nothing written elsewhere


@pytest.mark.parametrize('executor', ['local', 'dask'])
def test_ctrl_c_in_one_only_runner_leaves_the_other_runners_runs_alone(tmp_path, executor):
    "Two `--only` runners of one study (a SLURM array); with dask, each on a local cluster of its own: a stop ends its own runs, no other."
    args = gated_study(tmp_path)
    if executor == 'dask': args = [*args[:-1], '1', '--executor', 'dask']
    d = tmp_path / 'out' / 'gated' / 's'
    a, b = (start([*args, '--only', r], tmp_path) for r in ('x=2,seed=0', 'x=3,seed=0'))
    wait_for(lambda: blocked(tmp_path), what='both runs to start')
    a.send_signal(signal.SIGINT)
    out, err = a.communicate(timeout=60)
    assert a.returncode == 130, (out, err)
    assert cwds(run_processes(d / 'runs' / 'x=2,seed=0')) == []
    assert b.poll() is None and cwds(run_processes(d / 'runs' / 'x=3,seed=0')) == [str(d / 'runs' / 'x=3,seed=0')]
    (tmp_path / 'gate').unlink()
    out, err = b.communicate(timeout=120)
    assert b.returncode == 0, (out, err)
    assert json.loads((d / 'runs' / 'x=3,seed=0' / 'status.json').read_text())['status'] == 'ok'
