"""Study-runner overhead per run: a fresh kernel per run against a direct in-process call.

The same work, `train('classify', ...)` for one epoch on the digits with a given seed, is done
N times by calling the function directly in this process and N times as study runs
(`nbs/studies/train_and_evaluate.ipynb`, each run in a fresh kernel that was started, and
imported torch and graphlab, while the previous run executed; one run at a time). The
difference per run is what the runner costs: the part of kernel start and imports not hidden
behind the previous run, parameter injection, saving the executed notebook, collecting
metrics, and the first run's kernel start (not hidden: paid once per study, spread over N).

    python benchmarks/study_overhead.py [--runs 4] [--epochs 1]

A kernel's warm-up (torch, graphlab, the task's module, torch._dynamo: ~5 CPU-s) is hidden only
behind a run that lasts at least as long; with 1-epoch runs (0.7 s) the study is bound by kernel
starts. `--epochs 8` measures runs long enough to hide it, as real study runs are.

Ends with `RESULT overhead_s_per_run=<x> ratio=<study/direct> direct_s_per_run=<y> study_s_per_run=<z>`.
Goal: overhead <= 1 s per run (it was 8.1 s with a papermill process per run).
"""
import argparse, statistics, tempfile, time
from pathlib import Path

from graphlab.studies import Grid, find_study, run_study
from graphlab.trainer import train

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {'task': 'classify', 'trainer.max_epochs': 1, 'trainer.progress': 'none'}


def direct(seed, out):
    t = time.perf_counter()
    r = train('classify', {k: v for k, v in PARAMS.items() if k != 'task'} | {'seed': seed, 'run_dir': str(out / f'seed={seed}')})
    return time.perf_counter() - t, r.metrics['test_accuracy']


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runs', type=int, default=4)
    ap.add_argument('--epochs', type=int, default=1, help='epochs per run (longer runs hide the next kernel start)')
    a = ap.parse_args()
    PARAMS['trainer.max_epochs'] = a.epochs
    seeds = list(range(a.runs))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        direct(99, d / 'warm')                               # imports and first-call costs, paid once in a session
        direct_times = [direct(s, d / 'direct')[0] for s in seeds]
        study = find_study(str(ROOT / 'nbs' / 'studies' / 'train_and_evaluate.ipynb'))
        study.report = None                                  # runs only: the report is a once-per-study cost
        t = time.perf_counter()
        summary = run_study(study, Grid(parameters=PARAMS, seeds=seeds), d / 'study', workers=1, progress=False)
        study_total = time.perf_counter() - t
    assert (summary.status == 'ok').all(), summary[['run', 'status', 'error', 'message']]
    per_direct, per_study = statistics.mean(direct_times), study_total / a.runs
    print(f"direct in-process call: {' '.join(f'{x:.2f}' for x in direct_times)} s")
    print(f"study runs (wall, {a.runs} runs, 1 worker): {study_total:.2f} s total; per run "
          + ' '.join(f'{x:.2f}' for x in summary.duration_s) + ' s')
    print(f"RESULT overhead_s_per_run={per_study - per_direct:.2f} ratio={per_study / per_direct:.2f} "
          f"direct_s_per_run={per_direct:.2f} study_s_per_run={per_study:.2f}")


if __name__ == '__main__':
    main()
