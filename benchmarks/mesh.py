"""mesh training speed: graphlab's dynamic EdgeConv against PyG's `EdgeConv` fed the same neighbours.

The same DGCNN (EdgeConv channels 64-64-128, k=20, global_dim 256, embedding 128, 6 classes) is
trained (forward, cross-entropy, backward, AdamW step) on random meshes of V vertices with two
implementations of its EdgeConv layers, both with the same math and the same weights,
`max_j LeakyReLU(Θ[h_i, h_j - h_i])`, and both rebuilding the kNN graph from the current features
in every layer with `graphlab.ops.knn_graph`:

- graphlab: `graphlab.models.dgcnn.EdgeConv(norm=False)`: the linear map per node, then a chunked
  gather of the neighbours' maximum;
- PyG: `torch_geometric.nn.EdgeConv(Sequential(Linear(2C, C'), LeakyReLU(0.2)), aggr='max')`, fed
  the same neighbour indices as an `edge_index` (PyG's `DynamicEdgeConv` needs pyg-lib or
  torch-cluster, which do not install here).

The outputs of the two models are checked equal before timing. Each (implementation, V) runs in
its own process, so that its peak memory is its own: training samples/s (median over steps after
a warm-up step) and the peak resident memory growth over the process after the model and data
exist (CPU), or `torch.cuda.max_memory_allocated` (CUDA).

    python benchmarks/mesh.py [--vertices 1024 1723] [--batch 8] [--steps 3] [--device cpu]

The machine may be shared: times are noisy; the ratios come from one run. Ends with `RESULT k=v ...`.
"""
import argparse, json, resource, statistics, subprocess, sys, time

import torch
from torch import nn


def build(impl: str, seed: int = 0) -> nn.Module:
    "The benchmark DGCNN with graphlab's or PyG's EdgeConv layers (same weights for the same seed)."
    from torch_geometric.nn import EdgeConv as PygEdgeConv
    from graphlab.models.dgcnn import DGCNN, EdgeConv
    from graphlab.ops import knn_graph

    class PygLayer(nn.Module):
        "PyG's EdgeConv on the kNN graph of the current features (same call as graphlab's EdgeConv)."
        def __init__(self, lin: nn.Linear, k: int):
            super().__init__()
            self.k = k
            self.conv = PygEdgeConv(nn.Sequential(nn.Linear(lin.in_features, lin.out_features), nn.LeakyReLU(0.2)), aggr='max')
            self.conv.nn[0].load_state_dict(lin.state_dict())     # PyG re-initialises its nn: copy graphlab's weights

        def forward(self, x, pos=None, idx=None):
            B, N, C = x.shape
            if idx is None: idx = knn_graph((x if pos is None else pos).detach(), self.k)[0]   # (B, N, k)
            src = (idx + torch.arange(B, device=x.device).view(B, 1, 1) * N).reshape(-1)
            dst = torch.arange(B * N, device=x.device).repeat_interleave(self.k)
            return self.conv(x.reshape(B * N, C), torch.stack([src, dst])).view(B, N, -1)

    torch.manual_seed(seed)
    m = DGCNN(6, channels=(64, 64, 128), k=20, global_dim=256, embedding_dim=128)
    mine = [EdgeConv(c.in_channels, c.out_channels, c.k, norm=False) for c in m.convs]   # all drawn before any PyG layer
    for i, c in enumerate(mine): m.convs[i] = c if impl == 'graphlab' else PygLayer(c.lin, c.k)
    return m


def peak_mb(device) -> float:
    if device.type == 'cuda': return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024       # KiB on Linux


def child(impl: str, V: int, batch: int, steps: int, device: str) -> dict:
    "Train `steps` steps in this process; samples/s and peak memory above the starting point."
    dev = torch.device(device)
    m = build(impl).to(dev)
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    x, y = torch.randn(batch, V, 6, device=dev), torch.randint(0, 6, (batch,), device=dev)
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
    base = peak_mb(dev)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        logits, emb = m(x)
        loss = nn.functional.cross_entropy(logits, y) + emb.sum() * 0
        opt.zero_grad(); loss.backward(); opt.step()
        if dev.type == 'cuda': torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t)
    return dict(samples_s=batch / statistics.median(times[1:]), peak_mb=peak_mb(dev) - base)


def check_same(V: int = 200) -> float:
    "Largest difference between the two models' outputs on the same input."
    a, b = build('graphlab').eval(), build('pyg').eval()
    x = torch.randn(2, V, 6)
    with torch.no_grad(): return max(float((p - q).abs().max()) for p, q in zip(a(x), b(x)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--vertices', type=int, nargs='+', default=[1024, 1723])
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.batch, a.steps, a.device))); return
    diff = check_same()
    print(f"max |graphlab - PyG| on the same input and weights: {diff:.2e}")
    assert diff < 1e-4, "the two implementations disagree"
    res = {}
    for V in a.vertices:
        for impl in ('graphlab', 'pyg'):
            out = subprocess.run([sys.executable, __file__, '--child', impl, str(V), '--batch', str(a.batch),
                                  '--steps', str(a.steps), '--device', a.device], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            res[f'{impl}_samples_s_v{V}'], res[f'{impl}_peak_mb_v{V}'] = r['samples_s'], r['peak_mb']
            print(f"V={V:5d} {impl:8s}: {r['samples_s']:7.2f} training samples/s, peak memory +{r['peak_mb']:.0f} MB "
                  f"(batch {a.batch}, k=20, {a.device})", flush=True)
        res[f'speedup_v{V}'] = res[f'graphlab_samples_s_v{V}'] / res[f'pyg_samples_s_v{V}']
        res[f'memory_ratio_v{V}'] = res[f'graphlab_peak_mb_v{V}'] / max(res[f'pyg_peak_mb_v{V}'], 1e-9)
    print('RESULT ' + ' '.join(f"{k}={v:.3g}" for k, v in res.items()))


if __name__ == '__main__':
    main()
