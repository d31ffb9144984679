"""EGNN on edge lists vs dense padded batches: graphs per CPU-second of a training step and of inference at 8, 32 and 128 nodes
per graph (the `com` model on molecule-like graphs, radius-2 edges, 4 layers of width 64; batches of 32 graphs, 4 at 128
nodes, where one dense training step of 32 graphs takes ~15 CPU-s) and on the `nbody` task's 5 fully connected particles
(velocity EGNN, batches of 100 systems), and the validation pass of a folder of graph files (files per CPU-second).
Both implementations are timed in the same run on the same batches, on one thread by default: on a shared machine the
CPU time of several threads counts their spin-waiting while the other jobs hold the cores, and the figures swing 3x from
run to run. About 80 s wall on the shared 2-core CPU.

    python benchmarks/com.py [--files 5000] [--batch 32] [--big-batch 4] [--seconds 1.5] [--threads 1]
"""
import argparse, tempfile, time
from pathlib import Path

import numpy as np
import torch

from graphlab.data.geometric import build_edges, molecule_graph, read_graph_folder, validate_graph, write_molecules
from graphlab.data.geometric import simulate_charged
from graphlab.models.egnn import EGNN, EGNNCoM
from graphlab.tasks.com import collate_graphs
from graphlab.tasks.nbody import collate_systems, split_systems


def rate(fn, n_items: int, seconds: float) -> float:
    """Items per CPU-second of `fn()` (each call handles `n_items`), after one warm-up call.

    CPU time of this process (all its threads), not wall time: on a shared machine the wall time
    mostly measures the other jobs."""
    fn()
    reps, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds or reps < 2:
        fn(); reps += 1
    return reps * n_items / (time.process_time() - t0)


def batch_of(n_nodes: int, bs: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(bs):
        g = validate_graph(molecule_graph(rng, n_nodes, n_nodes))
        g['edge_index'] = build_edges(g['pos'])
        graphs.append(g)
    return collate_graphs(graphs)


def model_rates(model: torch.nn.Module, call, target: torch.Tensor, n_graphs: int, seconds: float) -> tuple[float, float]:
    "Graphs per CPU-second of a training step (L1 loss, AdamW) and of inference of `call(model)`."
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    def step():
        opt.zero_grad(); (call(model) - target).abs().mean().backward(); opt.step()
    def infer():
        with torch.no_grad(): call(model)
    model.train(); train = rate(step, n_graphs, seconds)
    model.eval(); inference = rate(infer, n_graphs, seconds)
    return train, inference


def com_rates(b: dict, impl: str, seconds: float) -> tuple[float, float]:
    "`EGNNCoM` (the `com` task's model) on a batch of `collate_graphs`."
    torch.manual_seed(0)
    args = (b['h'], b['pos'], b['edge_index'], b['batch'], b['num_graphs'])
    return model_rates(EGNNCoM(b['h'].shape[1], 64, 4, impl=impl), lambda m: m(*args), b['com'], b['num_graphs'], seconds)


def nbody_rates(b: dict, impl: str, seconds: float) -> tuple[float, float]:
    "The `nbody` task's model (velocity EGNN, charge products and input distances as edge attributes) on a batch of `collate_systems`."
    torch.manual_seed(0)
    args = (b['h'], b['pos'], b['edge_index'], b['batch'], b['edge_attr'], b['vel'])
    model = EGNN(1, 64, 4, edge_dim=2, velocity=True, impl=impl)
    return model_rates(model, lambda m: m(*args)[1], b['target'], b['num_graphs'], seconds)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--files', type=int, default=5000)
    p.add_argument('--batch', type=int, default=32, help='graphs per batch at 8 and 32 nodes')
    p.add_argument('--big-batch', type=int, default=4, help='graphs per batch at 128 nodes')
    p.add_argument('--seconds', type=float, default=1.5, help='CPU-seconds timed per figure (at least 2 calls)')
    p.add_argument('--threads', type=int, default=1, help='torch threads')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    result = {}
    print(f"{'nodes':>6} {'graphs':>6} {'edges/graph':>12} {'train edges':>12} {'train dense':>12} {'ratio':>6} {'infer edges':>12} "
          f"{'infer dense':>12} {'ratio':>6}   (graphs per CPU-second; ratio = edges / dense)")
    cases = [(n, a.batch if n <= 32 else a.big_batch, com_rates) for n in (8, 32, 128)] + [(5, 100, nbody_rates)]
    for n, bs, rates in cases:
        b = batch_of(n, bs) if rates is com_rates else collate_systems(split_systems(simulate_charged(bs, start=10, horizon=10)))
        te, ie = rates(b, 'edges', a.seconds)
        td, id_ = rates(b, 'dense', a.seconds)
        if rates is nbody_rates: n = 'nbody'
        print(f"{n:>6} {bs:>6} {b['edge_index'].shape[1] / bs:>12.1f} {te:>12.1f} {td:>12.1f} {te / td:>6.2f} {ie:>12.1f} "
              f"{id_:>12.1f} {ie / id_:>6.2f}")
        result.update({f'train_edges_{n}': te, f'train_dense_{n}': td, f'train_ratio_{n}': te / td,
                       f'infer_edges_{n}': ie, f'infer_dense_{n}': id_, f'infer_ratio_{n}': ie / id_})
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        write_molecules(Path(d), a.files, seed=0)
        print(f"wrote {a.files:,} files with write_molecules in {time.perf_counter() - t0:.1f} s wall")
        t0, c0 = time.perf_counter(), time.process_time()
        _, report = read_graph_folder(d)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(f"validation pass: {report.loaded:,} files in {dt:.2f} s wall, {dc:.2f} CPU-s = {report.loaded / dc:,.0f} files per CPU-second "
          "(read, validate, build radius edges)")
    result.update(validate_files=report.loaded, validate_files_per_cpu_s=report.loaded / dc, validate_files_per_wall_s=report.loaded / dt)
    print('RESULT ' + ' '.join(f'{k}={v:.3g}' for k, v in result.items()))


if __name__ == '__main__':
    main()
