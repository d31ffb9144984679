"""brain speed: graph construction, the temporal convolution, attention and torch.compile, each against its baseline.

(a) Graph construction (Pearson correlation + k-nearest graph) for a batch of 32 subjects' windows at
    94 and 400 regions: `graphlab.connectivity.corr_graph` (one matmul + one `topk` for the batch)
    against the original's loop (`np.corrcoef` per subject, `np.argsort` per region). Both must give
    the same graphs. `--frames` sets the window length (the task's default window is 32 frames).
(b) Temporal convolution at the model's shapes, forward + backward: one `Conv2d` over all time steps
    (`temporal=vectorized`) against a loop over time steps with the same weights (`temporal=loop`);
    and the whole ST-GCN training step with either.
(c) Temporal attention at the model's shapes, forward + backward: `F.scaled_dot_product_attention`
    (`attention=sdpa`) against the softmax written out (`attention=manual`).
(d) The ST-GCN training step with `torch.compile` against eager (compile time reported apart;
    a failure of the compiler is reported, not raised).

    python benchmarks/brain.py [--repeats 5] [--batch 32] [--frames 32] [--k 6] [--no-compile] [--threads N] [--only graphs]

Times are medians over repeats on whatever CPU/GPU is here; the machine may be shared, so they are
noisy, but each ratio is measured within one run. Ends with `RESULT k=v ...`.
"""
import argparse, statistics, time, warnings

import numpy as np
import torch

from graphlab.connectivity import corr_graph, topk_graph_loop
from graphlab.models.stgcn import STGCN, TemporalAttention, TemporalConv


def median_time(fn, repeats: int, sync=lambda: None) -> float:
    fn(); sync()                                                      # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); sync(); times.append(time.perf_counter() - t)
    return statistics.median(times)


def graphs(args, dev, sync) -> dict:
    out = {}
    rng = np.random.default_rng(0)
    for n in (94, 400):
        x = rng.standard_normal((args.batch, n, args.frames)) + rng.standard_normal((args.batch, 1, args.frames))
        xt = torch.tensor(x, dtype=torch.float32, device=dev)
        same = torch.equal(corr_graph(xt, args.k).cpu(), torch.from_numpy(topk_graph_loop(x, args.k)))
        t_loop = median_time(lambda: topk_graph_loop(x, args.k), max(1, args.repeats // 2))
        t_bat = median_time(lambda: corr_graph(xt, args.k), args.repeats, sync)
        out[f'graph_ms_loop_{n}'], out[f'graph_ms_batched_{n}'] = 1e3 * t_loop, 1e3 * t_bat
        out[f'graph_speedup_{n}'], out[f'graph_same_{n}'] = t_loop / t_bat, same
        print(f"graph N={n}: loop {1e3 * t_loop:.1f} ms, batched {1e3 * t_bat:.2f} ms ({t_loop / t_bat:.0f}x), same graphs: {same}")
    return out


def train_step(model, x, adj):
    def step():
        model.zero_grad(set_to_none=True)
        model(x, adj).float().pow(2).mean().backward()
    return step


def temporal(args, dev, sync) -> dict:
    B, C, T, N = args.batch, 32, args.frames, 94
    x = torch.randn(B, C, T, N, device=dev, requires_grad=True)
    vec = TemporalConv(C, C, 5).to(dev)
    loop = TemporalConv(C, C, 5, mode='loop').to(dev); loop.load_state_dict(vec.state_dict())
    assert torch.allclose(vec(x), loop(x), atol=1e-4)
    f = lambda m: lambda: m(x).sum().backward()
    t_v, t_l = median_time(f(vec), args.repeats, sync), median_time(f(loop), args.repeats, sync)
    xs, adj = torch.randn(B, N, T, device=dev), (torch.rand(B, N, N, device=dev) < 0.06).float()
    mv = STGCN(T, 4, temporal='vectorized').to(dev)
    ml = STGCN(T, 4, temporal='loop').to(dev); ml.load_state_dict(mv.state_dict())
    s_v, s_l = median_time(train_step(mv, xs, adj), args.repeats, sync), median_time(train_step(ml, xs, adj), args.repeats, sync)
    print(f"temporal conv (B={B}, C={C}, T={T}, N={N}) fwd+bwd: loop {1e3 * t_l:.1f} ms, vectorized {1e3 * t_v:.1f} ms "
          f"({t_l / t_v:.1f}x); ST-GCN train step: loop {1e3 * s_l:.0f} ms, vectorized {1e3 * s_v:.0f} ms ({s_l / s_v:.2f}x)")
    return dict(temporal_ms_loop=1e3 * t_l, temporal_ms_vectorized=1e3 * t_v, temporal_speedup=t_l / t_v,
                model_step_ms_loop=1e3 * s_l, model_step_ms_vectorized=1e3 * s_v, model_temporal_speedup=s_l / s_v)


def attention(args, dev, sync) -> dict:
    B, C, T, N = args.batch, 32, args.frames, 94
    x = torch.randn(B, C, T, N, device=dev, requires_grad=True)
    sd = TemporalAttention(C, 4).to(dev).eval()
    mn = TemporalAttention(C, 4, mode='manual').to(dev).eval(); mn.load_state_dict(sd.state_dict())
    assert torch.allclose(sd(x), mn(x), atol=1e-4)
    f = lambda m: lambda: m(x).sum().backward()
    t_s, t_m = median_time(f(sd), args.repeats, sync), median_time(f(mn), args.repeats, sync)
    print(f"temporal attention ({B * N} sequences × {T} frames, 4 heads of {C // 4}) fwd+bwd: manual {1e3 * t_m:.1f} ms, "
          f"sdpa {1e3 * t_s:.1f} ms ({t_m / t_s:.2f}x)")
    return dict(attention_ms_manual=1e3 * t_m, attention_ms_sdpa=1e3 * t_s, sdpa_speedup=t_m / t_s)


def compiled(args, dev, sync) -> dict:
    B, T, N = args.batch, args.frames, 94
    xs, adj = torch.randn(B, N, T, device=dev), (torch.rand(B, N, N, device=dev) < 0.06).float()
    m = STGCN(T, 4).to(dev)
    eager = median_time(train_step(m, xs, adj), args.repeats, sync)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            cm = torch.compile(m)
            t0 = time.perf_counter(); train_step(cm, xs, adj)(); sync(); t_compile = time.perf_counter() - t0
            t_c = median_time(train_step(cm, xs, adj), args.repeats, sync)
    except Exception as e:  # report any failure of the compiler stack
        msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"
        print(f"torch.compile failed ({msg}); eager train step {1e3 * eager:.0f} ms")
        return dict(compile='failed', compile_error=msg, eager_step_ms=1e3 * eager)
    print(f"ST-GCN train step: eager {1e3 * eager:.0f} ms, compiled {1e3 * t_c:.0f} ms ({eager / t_c:.2f}x; "
          f"compiling took {t_compile:.0f} s)")
    return dict(compile='ok', eager_step_ms=1e3 * eager, compiled_step_ms=1e3 * t_c, compile_speedup=eager / t_c,
                compile_s=t_compile)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--frames', type=int, default=32)
    p.add_argument('--k', type=int, default=6)
    p.add_argument('--no-compile', action='store_true')
    p.add_argument('--threads', type=int, default=0, help='torch threads; 0 = torch default (on a loaded 2-core machine 1 is faster)')
    p.add_argument('--only', choices=['graphs', 'all'], default='all')
    args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    sync = (lambda: torch.cuda.synchronize()) if dev.type == 'cuda' else (lambda: None)
    print(f"device {dev}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    r = graphs(args, dev, sync)
    if args.only == 'all': r.update(**temporal(args, dev, sync), **attention(args, dev, sync))
    if args.only == 'all' and not args.no_compile: r.update(compiled(args, dev, sync))
    keys = ['graph_speedup_94', 'graph_speedup_400', 'graph_same_94', 'graph_same_400', 'temporal_speedup',
            'model_temporal_speedup', 'sdpa_speedup', 'compile', 'compile_speedup']
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)
    print('RESULT ' + ' '.join(f"{k}={fmt(r[k])}" for k in keys if k in r) + f" device={dev.type} threads={torch.get_num_threads()}")


if __name__ == '__main__':
    main()
