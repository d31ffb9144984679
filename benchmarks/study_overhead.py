"""Study-runner overhead per run: a fresh kernel per run against a direct in-process call.

The same work, `train('classify', ...)` for `--epochs` epochs on the digits with a given seed,
is done N times by calling the function directly in this process (before and after the
studies, as the machine's speed drifts), and as study runs
(`nbs/studies/train_and_evaluate.ipynb`, each run in a fresh kernel forked from the study's
fork server while the previous run executed; one run at a time), in two studies measured in
this same process: one of a single run and one of N runs. Then

- per-run overhead = (T_N - T_1) / (N - 1) - direct: what each further run of a study costs
  over the direct call (its kernel's fork and start, parameter injection, the executed
  notebook saved after every cell, metrics collected, the kernel ended);
- per-study cost = T_1 - direct - per-run overhead: paid once per study, whatever its size
  (the fork server importing ipykernel, torch, graphlab, the task module and torch._dynamo
  before the first kernel, the executor's start and end, the summary);
- amortized = T_N / N - direct: both, spread over the N runs of this study.

    python benchmarks/study_overhead.py [--runs 6] [--epochs 1]

Ends with `RESULT overhead_s_per_run=<x> per_study_s=<s> amortized_s_per_run=<a> ratio=<study/direct>
direct_s_per_run=<y> study_s_per_run=<z>` (the last three for the N-run study).
Goal: overhead <= 1 s per run (it was 8.1 s with a papermill process per run).
"""
import argparse, statistics, tempfile, time
from pathlib import Path

from graphlab.studies import Grid, StudyOptions, find_study, run_study
from graphlab.runs import train

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {'task': 'classify', 'trainer.max_epochs': 1, 'trainer.progress': 'none'}


def direct(seed, out):
    t = time.perf_counter()
    r = train('classify', {k: v for k, v in PARAMS.items() if k != 'task'} | {'seed': seed, 'run_dir': str(out / f'seed={seed}')})
    return time.perf_counter() - t, r.metrics['test_accuracy']


def study(seeds, out):
    "Wall time of a study of one run per seed, and its runs' durations."
    s = find_study(str(ROOT / 'nbs' / 'studies' / 'train_and_evaluate.ipynb'))
    s.report = None                                          # runs only: the report is a study's choice, not overhead
    t = time.perf_counter()
    summary = run_study(s, Grid(parameters=PARAMS, seeds=seeds), out, StudyOptions(workers=1, progress=False))
    total = time.perf_counter() - t
    assert (summary.status == 'ok').all(), summary[['run', 'status', 'error', 'message']]
    return total, list(summary.duration_s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runs', type=int, default=6)
    ap.add_argument('--epochs', type=int, default=1, help='epochs per run')
    a = ap.parse_args()
    if a.runs < 2: ap.error('--runs must be at least 2 (the per-run overhead is a difference of two studies)')
    PARAMS['trainer.max_epochs'] = a.epochs
    seeds = list(range(a.runs))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        direct(99, d / 'warm')                               # imports and first-call costs, paid once in a session
        direct_times = [direct(s, d / 'direct')[0] for s in seeds]
        t1, _ = study([100], d / 'one')
        tn, durations = study(seeds, d / 'many')
        direct_times += [direct(s, d / 'direct-after')[0] for s in seeds]   # the machine may have changed meanwhile
    per_direct = statistics.mean(direct_times)
    per_run = (tn - t1) / (a.runs - 1) - per_direct
    per_study = t1 - per_direct - per_run
    print(f"direct in-process call: {' '.join(f'{x:.2f}' for x in direct_times)} s")
    print(f"study of 1 run: {t1:.2f} s; study of {a.runs} runs: {tn:.2f} s (runs, kernel ready to saved: "
          + ' '.join(f'{x:.2f}' for x in durations) + ' s)')
    print(f"RESULT overhead_s_per_run={per_run:.2f} per_study_s={per_study:.2f} amortized_s_per_run={tn / a.runs - per_direct:.2f} "
          f"ratio={tn / a.runs / per_direct:.2f} direct_s_per_run={per_direct:.2f} study_s_per_run={tn / a.runs:.2f}")


if __name__ == '__main__':
    main()
