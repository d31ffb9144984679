"""Trainer overhead against a hand-written PyTorch loop.

The same model (SmallCNN), data (digits), seed and optimiser (AdamW, constant lr) are trained
for EPOCHS epochs by `graphlab.trainer.Trainer` and by a plain loop, in one process,
alternating which goes first. Both use the same loaders and validate after every epoch; the
Trainer also writes history.csv and checkpoints, as it does in real use. The final losses
must agree to 1e-5 (the two loops do the same arithmetic).

    python benchmarks/trainer_overhead.py [--epochs 8] [--repeats 6] [--resolution 8]

Prints per-epoch times and ends with `RESULT overhead_pct=<x> overhead_s_per_epoch=<y> ...`
(medians over all epochs of all repeats; the machine is shared, so single epochs are noisy).
A third variant, the Trainer without a run directory, separates the cost of writing
history.csv and checkpoints from the cost of the loop itself. Both loops draw the data in the
same seeded order (`ShardSampler`, the trainer's own sampler).

`--ddp` adds the multi-process case: `graphlab train classify` with 2 CPU processes × half the
batch against 1 process × the whole batch (the same global batch), wall time per epoch and the
final losses (equal up to float summation order; no speed-up is expected on 2 cores).
"""
import argparse, json, statistics, tempfile, time, warnings
from pathlib import Path

import pandas as pd

import torch
import torch.nn.functional as F

from graphlab.core import seed_everything
from graphlab.data import make_loader, set_loader_epoch
from graphlab.tasks.classify import ClassifyConfig, ClassifyTask
from graphlab.trainer import Trainer, TrainerConfig
from graphlab.trainer.config import OptimConfig, ScheduleConfig
from graphlab.runs import train
from graphlab.trainer.distributed import ShardSampler


def plain_loop(task_cfg, epochs, bs, lr, seed):
    "What a researcher writes by hand: returns per-epoch wall times and the final losses."
    seed_everything(seed)
    task = ClassifyTask(task_cfg); task.setup()
    model = task.build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sampler = ShardSampler(len(task.datasets['train']), seed=seed)
    train_dl = make_loader(task.datasets['train'], bs, train=True, seed=seed, sampler=sampler)
    val_dl = make_loader(task.datasets['val'], 2 * bs, train=False, seed=seed)
    times, t = [], time.perf_counter()
    for epoch in range(epochs):
        model.train(); set_loader_epoch(train_dl, seed, epoch); sampler.set_epoch(epoch)
        total, n = 0.0, 0
        for x, y in train_dl:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
            total, n = total + loss.item() * len(y), n + len(y)
        model.eval(); vl, vn, correct = 0.0, 0, 0
        with torch.no_grad():
            for x, y in val_dl:
                out = model(x)
                vl, vn = vl + F.cross_entropy(out, y).item() * len(y), vn + len(y)
                correct += (out.argmax(1) == y).sum().item()
        now = time.perf_counter(); times.append(now - t); t = now
    return times, total / n, vl / vn


def trainer_loop(task_cfg, epochs, bs, lr, seed, run_dir):
    cfg = TrainerConfig(max_epochs=epochs, batch_size=bs, optim=OptimConfig(lr=lr, weight_decay=0.0),
                        schedule=ScheduleConfig(name='none'), progress='none', device='cpu')
    tr = Trainer(cfg, run_dir=run_dir, seed=seed)
    starts = []
    orig = tr.train_epoch
    def timed(task):  # epoch boundaries, measured like the plain loop's (train + validation + bookkeeping)
        starts.append(time.perf_counter()); return orig(task)
    tr.train_epoch = timed
    tr.fit(ClassifyTask(task_cfg))
    end = time.perf_counter()
    times = [b - a for a, b in zip(starts, starts[1:] + [end])]
    return times, tr.history.rows[-1]['train_loss'], tr.history.rows[-1]['val_loss']


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=8)
    ap.add_argument('--repeats', type=int, default=6)
    ap.add_argument('--resolution', type=int, default=8, help='digits resampled to this size (8 = native)')
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--ddp', action='store_true', help='also time 2 processes against 1 on the same global batch')
    a = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    cfg, lr, seed = ClassifyConfig(resolution=a.resolution), 1e-3, 0
    warnings.simplefilter('ignore')
    plain_loop(cfg, 1, a.batch_size, lr, seed)  # warm both paths (imports, allocator) before timing
    with tempfile.TemporaryDirectory() as d: trainer_loop(cfg, 1, a.batch_size, lr, seed, f"{d}/warm")
    variants = ['plain', 'trainer', 'trainer_nofiles']
    epoch_times, losses = {v: [] for v in variants}, {v: [] for v in variants}
    for r in range(a.repeats):
        for which in variants[r % 3:] + variants[:r % 3]:  # rotate who goes first
            with tempfile.TemporaryDirectory() as d:
                if which == 'plain': times, tl, vl = plain_loop(cfg, a.epochs, a.batch_size, lr, seed)
                else: times, tl, vl = trainer_loop(cfg, a.epochs, a.batch_size, lr, seed,
                                                   f"{d}/run" if which == 'trainer' else None)
            epoch_times[which] += times; losses[which].append((tl, vl))
            print(f"repeat {r} {which:15s} epoch times (s): " + ' '.join(f"{t:.3f}" for t in times) +
                  f" | final train_loss={tl:.6f} val_loss={vl:.6f}", flush=True)
    diff = max(abs(x - y) for v in variants[1:] for a_, b_ in zip(losses['plain'], losses[v]) for x, y in zip(a_, b_))
    print(f"max |loss difference| trainer vs plain: {diff:.2e} ({'OK' if diff <= 1e-5 else 'MISMATCH'}, must be <= 1e-5)")
    med = {v: statistics.median(t) for v, t in epoch_times.items()}
    print("median epoch time: " + ', '.join(f"{v} {t:.4f} s" for v, t in med.items()) +
          " (trainer writes history.csv and checkpoints every epoch; trainer_nofiles has no run directory)")
    p, t, n = med['plain'], med['trainer'], med['trainer_nofiles']
    print(f"RESULT overhead_pct={100 * (t - p) / p:.2f} overhead_s_per_epoch={t - p:.4f} "
          f"nofiles_overhead_pct={100 * (n - p) / p:.2f} loss_diff={diff:.1e}" + (ddp(a) if a.ddp else ''))


def ddp(a) -> str:
    "2 processes x batch/2 against 1 process x batch: median epoch time ratio and the final loss difference."
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for n in (1, 2):
            r = train('classify', [f'trainer.devices={n}', f'trainer.batch_size={a.batch_size // n}', f'trainer.max_epochs={a.epochs}',
                                   'trainer.schedule.name=none', 'trainer.optim.weight_decay=0', 'profile=false',
                                   f'run_dir={d}/p{n}'])
            h = pd.read_csv(Path(d, f'p{n}', 'history.csv'))
            out[n] = (statistics.median(h.epoch_time_s[1:]), h.train_loss.iloc[-1], h.val_loss.iloc[-1])
            print(f"ddp: {n} process(es) x batch {a.batch_size // n}: median epoch {out[n][0]:.3f} s, "
                  f"final train_loss={out[n][1]:.6f} val_loss={out[n][2]:.6f}", flush=True)
    diff = max(abs(out[1][i] - out[2][i]) for i in (1, 2))
    return f" ddp_epoch_time_ratio={out[2][0] / out[1][0]:.2f} ddp_loss_diff={diff:.1e}"


if __name__ == '__main__':
    main()
