"""image2graph speed: (a) inference against the previous models and a scikit-learn pipeline, (b) batched kNN graphs,
(c) the generator.

(a) Inference per sample of Model A and Model B, batched (a batch of `--batch` test graphs at
    64 px, then `graphlab.ops.spectral_clustering` on the predicted matrix), each against its
    baseline timed in the same run, and against the scikit-learn pipeline on the same graphs:
    `SpectralClustering` (default settings, k-means labels) on each graph's node coordinates,
    one graph at a time (and with `assign_labels='cluster_qr'`).
    - Model A is `ModelA()` (the defaults: width 16, pyramid 32, dim 64, edge MLP 96, the reader
      also past the segment ends, channels-last weights), reading the pairs of real nodes only.
      Its baseline is the previous default (`ModelA(width=32, dim=128, pyramid=64, hidden=192,
      beyond=())`, contiguous weights) reading every pair of the `max_nodes` candidates, as the
      previous code did whatever the detector found.
      Untrained weights detect no node, so the graph is read at the true nodes of the test graphs
      (the work of a detector that finds them, as a trained one does: node F1 >= 0.99), after
      `encode` and `detect` have run on the image. With `--run-a RUN_DIR` a trained Model A run is
      timed end to end as well (`model(image)`, its own detections).
    - Model B (`ModelB()`, given the true nodes) against the previous `ModelB(beyond=())` reading
      every pair of the 24 slots.
    Times are the fastest of `--repeats` (wall clock) and the CPU time of that call (all threads);
    the load average is printed beside them: on a shared machine the ratios are the robust figures.
(b) kNN graph construction for B=64 graphs × N ∈ {32, 256, 1024} × d ∈ {3, 64}, k=8:
    `graphlab.ops.knn_graph` (cdist + topk on the batch) against scikit-learn `NearestNeighbors`
    fitted per graph, and against a per-node Python loop with `np.argsort` (what the system
    this replaces did). All three must find neighbours at the same distances.
(c) Generator throughput at 64 px: `image_graphs` with 2 worker processes (start-up included)
    and in one process, caching off.

    python benchmarks/image2graph.py [--repeats 5] [--batch 64] [--n-gen 4000] [--threads N] [--run-a RUN_DIR]
                                     [--only inference]

Times of (b) and (c) are medians over repeats. Ends with `RESULT k=v ...`.
"""
import argparse, math, os, statistics, time, warnings

import numpy as np
import torch
from sklearn.cluster import SpectralClustering
from sklearn.neighbors import NearestNeighbors
from torch.utils.data import default_collate

from graphlab.data.image_graphs import GraphImageSpec, image_graphs
from graphlab.models.image2graph import ModelA, ModelB
from graphlab.ops import knn_graph, spectral_clustering


def median_time(fn, repeats: int) -> float:
    fn()                                           # warm-up (allocator, lazy imports)
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)


def best_time(fn, repeats: int) -> tuple[float, float]:
    "Wall clock of the fastest of `repeats` calls (after a warm-up), and the process CPU time of that call."
    fn()
    best = (math.inf, math.inf)
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter(); fn()
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


def inference(repeats: int, bs: int, run_a: str = '') -> dict:
    ds = image_graphs(GraphImageSpec(), n=bs, seed=123, stream=2, cache=False)
    b = default_collate([ds[i] for i in range(bs)])
    k, full = b['n_communities'], torch.ones_like(b['mask'])
    base_a = ModelA(width=32, dim=128, pyramid=64, hidden=192, beyond=()).to(memory_format=torch.contiguous_format)
    models = {'a': ModelA(), 'a_base': base_a, 'b': ModelB(), 'b_base': ModelB(beyond=())}

    @torch.inference_mode()
    def run(name):
        m = models[name].eval()
        if name.startswith('b'):
            out = m(b['image'], b['coords'], full if name == 'b_base' else b['mask'])
            return spectral_clustering(torch.sigmoid(out['edge_logits']), k, b['mask'])
        feats = m.encode(b['image'])
        m.detect(feats)
        out = m.read_graph(feats, b['coords'], full if name == 'a_base' else b['mask'])
        return spectral_clustering(torch.sigmoid(out['edge_logits']), k, b['mask'])

    graphs = [(b['coords'][i, :n].numpy(), int(k[i])) for i, n in enumerate(b['n_nodes'].tolist())]
    def sklearn_pipeline(**kw):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            for x, kk in graphs:
                SpectralClustering(kk, affinity='nearest_neighbors', n_neighbors=min(8, len(x) - 1), random_state=0,
                                   **kw).fit_predict(x)
    out = {}
    for n in models:
        wall, cpu = best_time(lambda: run(n), repeats)
        out[f'infer_ms_{n}'], out[f'cpu_ms_{n}'] = 1e3 * wall / bs, 1e3 * cpu / bs
    if run_a:
        from graphlab.runs import load_run
        trainer, _, ckpt = load_run(run_a)
        m = trainer.model.cpu().eval()
        @torch.inference_mode()
        def trained():
            o = m(b['image'])
            return spectral_clustering(torch.sigmoid(o['edge_logits']), k, o['mask'])
        wall, cpu = best_time(trained, repeats)
        out['infer_ms_a_trained'], out['cpu_ms_a_trained'] = 1e3 * wall / bs, 1e3 * cpu / bs
        print(f"trained Model A ({ckpt}): {out['infer_ms_a_trained']:.2f} ms per image", flush=True)
    out['sklearn_ms'] = 1e3 * best_time(sklearn_pipeline, max(1, repeats // 2))[0] / bs
    out['sklearn_qr_ms'] = 1e3 * best_time(lambda: sklearn_pipeline(assign_labels='cluster_qr'), repeats)[0] / bs
    for n in ('a', 'b'):
        out[f'speedup_{n}_vs_base'] = out[f'infer_ms_{n}_base'] / out[f'infer_ms_{n}']
        out[f'cpu_speedup_{n}_vs_base'] = out[f'cpu_ms_{n}_base'] / out[f'cpu_ms_{n}']
        out[f'speedup_{n}_vs_sklearn'] = out['sklearn_ms'] / out[f'infer_ms_{n}']
        out[f'speedup_{n}_vs_sklearn_qr'] = out['sklearn_qr_ms'] / out[f'infer_ms_{n}']
    out['load_1min'] = os.getloadavg()[0]
    return out


def knn_loop(x: np.ndarray, k: int) -> np.ndarray:
    "Per node: distances to every node, argsort, the k nearest others."
    out = np.empty((*x.shape[:2], k), dtype=np.int64)
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            d = np.sqrt(((x[b] - x[b, i]) ** 2).sum(1))
            d[i] = np.inf
            out[b, i] = np.argsort(d)[:k]
    return out


def knn_sklearn(x: np.ndarray, k: int) -> np.ndarray:
    return np.stack([NearestNeighbors(n_neighbors=k + 1).fit(g).kneighbors(g, return_distance=False)[:, 1:] for g in x])


def neighbour_dist(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    "Distances `(B, N, k)` from every node to its neighbours `idx`, nearest first."
    return np.sort(np.linalg.norm(x[np.arange(len(x))[:, None, None], idx] - x[:, :, None], axis=-1), -1)


def knn(repeats: int) -> dict:
    out, rng, k, B = {}, np.random.default_rng(0), 8, 64
    for n in (32, 256, 1024):
        for d in (3, 64):
            x = rng.normal(size=(B, n, d)).astype(np.float32)
            xt = torch.from_numpy(x)
            ours = neighbour_dist(x, knn_graph(xt, k)[0].numpy())
            assert np.allclose(ours, neighbour_dist(x, knn_sklearn(x, k)), atol=1e-3), (n, d)
            assert np.allclose(ours[:4], neighbour_dist(x[:4], knn_loop(x[:4], k)), atol=1e-3), (n, d)
            t_ours = median_time(lambda: knn_graph(xt, k), repeats)
            t_sk = median_time(lambda: knn_sklearn(x, k), max(1, repeats // 2))
            t_loop = median_time(lambda: knn_loop(x, k), 1)
            out[f'knn_ms_{n}_{d}'] = 1e3 * t_ours
            out[f'knn_vs_loop_{n}_{d}'] = t_loop / t_ours
            out[f'knn_vs_sklearn_{n}_{d}'] = t_sk / t_ours
            print(f"kNN B={B} N={n:5d} d={d:3d}: ours {1e3 * t_ours:8.2f} ms | scikit-learn per graph {1e3 * t_sk:8.2f} ms "
                  f"({t_sk / t_ours:6.1f}x) | per-node loop {1e3 * t_loop:9.1f} ms ({t_loop / t_ours:7.1f}x)", flush=True)
    return out


def generator(n: int) -> dict:
    spec = GraphImageSpec()
    image_graphs(spec, n=64, workers=0, cache=False)   # warm-up
    t = time.perf_counter(); image_graphs(spec, n=n, seed=7, workers=2, parallel_from=1, cache=False)
    par = n / (time.perf_counter() - t)
    t = time.perf_counter(); image_graphs(spec, n=n, seed=7, workers=0, cache=False)
    one = n / (time.perf_counter() - t)
    print(f"generator at 64 px: {par:.0f} samples/s with 2 workers (start-up included), {one:.0f} samples/s in one process")
    return dict(gen_samples_s=par, gen_samples_s_1proc=one)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--n-gen', type=int, default=4000)
    ap.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch\'s default)')
    ap.add_argument('--run-a', default='', help='a trained Model A run directory, timed end to end as well')
    ap.add_argument('--only', choices=['inference'], help='run part (a) only')
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    r = inference(a.repeats, a.batch, a.run_a)
    print(f"inference per image (batch {a.batch}, {torch.get_num_threads()} threads, "
          f"load average {r['load_1min']:.1f}):")
    for n, what in (('a', 'Model A'), ('b', 'Model B')):
        print(f"  {what}: {r[f'infer_ms_{n}']:.2f} ms ({r[f'cpu_ms_{n}']:.2f} ms CPU) | baseline "
              f"{r[f'infer_ms_{n}_base']:.2f} ms ({r[f'cpu_ms_{n}_base']:.2f} ms CPU) | "
              f"{r[f'speedup_{n}_vs_base']:.2f}x faster ({r[f'cpu_speedup_{n}_vs_base']:.2f}x in CPU time)")
    print(f"  scikit-learn pipeline {r['sklearn_ms']:.2f} ms (k-means labels), {r['sklearn_qr_ms']:.2f} ms "
          f"(cluster_qr) | speed-up A {r['speedup_a_vs_sklearn']:.0f}x / {r['speedup_a_vs_sklearn_qr']:.1f}x, "
          f"B {r['speedup_b_vs_sklearn']:.0f}x / {r['speedup_b_vs_sklearn_qr']:.1f}x", flush=True)
    keys = ['infer_ms_a', 'cpu_ms_a', 'infer_ms_a_base', 'cpu_ms_a_base', 'speedup_a_vs_base', 'cpu_speedup_a_vs_base',
            'infer_ms_a_trained', 'infer_ms_b', 'infer_ms_b_base', 'speedup_b_vs_base', 'sklearn_ms',
            'speedup_a_vs_sklearn', 'speedup_b_vs_sklearn', 'speedup_b_vs_sklearn_qr', 'load_1min']
    if not a.only:
        r.update(knn(a.repeats))
        r.update(generator(a.n_gen))
        keys += ['knn_vs_loop_256_3', 'knn_vs_loop_256_64', 'knn_vs_sklearn_256_3', 'knn_vs_sklearn_256_64',
                 'gen_samples_s', 'gen_samples_s_1proc']
    print('RESULT ' + ' '.join(f"{k}={r[k]:.3g}" for k in keys if k in r) + f" threads={torch.get_num_threads()}")


if __name__ == '__main__':
    main()
