"""The README's recipe for a sixth research system, followed in a notebook: a data function, a model and a task in
three cells, trained by `graphlab.runs.train` with a baseline trained like it, the saved run evaluated again, and
its explorer opened -- touching no file of the package. Executed as `nbdev_test` executes every notebook of the
package (execnb's shell, in a process of its own).

Under papermill (a Jupyter kernel over ZeroMQ) the last cell, under the load of the whole suite, three times in six
suite runs ended after exactly the execution timeout (300.03 s, no error, none of its output recorded) although its
code had finished in seconds (out.json written); alone, 14 of 14 runs took 7-9 s. The notebook's code is the same
either way; papermill itself is tested by the studies (tests/test_studies*.py)."""
import json, subprocess, sys

import nbformat

from conftest import ROOT, env

DATA = '''# 1. data: graphs whose target needs the graph (each node's value times the sum of its neighbours')
import torch

def field_graphs(n: int, nodes: int = 10, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, nodes, 1, generator=g)
    adj = (torch.rand(n, nodes, nodes, generator=g) < 0.3).float().triu(1)
    adj = adj + adj.transpose(1, 2)
    y = (x * (adj @ x)).mean((1, 2))
    return [dict(x=x[i], adj=adj[i], y=y[i]) for i in range(n)]'''

MODEL = '''# 2. model: one round of message passing; it knows nothing about datasets
from torch import nn

class MeanField(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.inp, self.msg, self.out = nn.Linear(1, hidden), nn.Linear(hidden, hidden), nn.Linear(2 * hidden, 1)
    def forward(self, x, adj):
        h = torch.relu(self.inp(x))
        return self.out(torch.cat([h, adj @ self.msg(h)], -1)).mean((1, 2))'''

TASK = '''# 3. task: the contract's methods, registered by name
from dataclasses import dataclass
from typing import Literal
import torch.nn.functional as F
from graphlab.task import Task, register_task

@dataclass
class FieldConfig:
    n: int = 96                                  # graphs per split
    graph: Literal['true', 'none'] = 'true'      # none: the no-edge control

@register_task('field')
class FieldTask(Task):
    config_class = FieldConfig
    def setup(self):
        ds, n = field_graphs(3 * self.config.n), self.config.n
        if self.config.graph == 'none': ds = [dict(s, adj=torch.zeros_like(s['adj'])) for s in ds]
        self.datasets = {k: ds[i * n:(i + 1) * n] for i, k in enumerate(('train', 'val', 'test'))}
    def build_model(self): return MeanField()
    def forward(self, model, b): return model(b['x'], b['adj'])
    def loss(self, out, b): return F.mse_loss(out.float(), b['y'])
    def collect(self, out, b): return out.float() - b['y']
    def compute_metrics(self, collected):
        e = torch.cat(collected)
        return {'mse': e.pow(2).mean().item(), 'mae': e.abs().mean().item()}
    def baselines(self): return {'noedge': {'graph': 'none'}}
    def show_sample(self, model, index, fig, split='test'):
        s = self.datasets[split][index]
        ax = fig.subplots(); ax.imshow(s['adj'], cmap='Greys'); ax.set_title(f"graph {index}: y = {float(s['y']):.2f}")'''

USE = '''from graphlab.runs import evaluate_run, train
from graphlab.viz import explore_run

r = train('field', ['trainer.max_epochs=3', 'trainer.batch_size=16', 'profile=false'], root=root)
again = evaluate_run(r.run_dir)
tab = explore_run(r)
json.dump(dict(metrics=r.metrics, again=again, panels=list(tab.panels), run_dir=str(r.run_dir)), open(out, 'w'), default=str)'''


def test_a_new_system_in_a_notebook(tmp_path):
    before = subprocess.run(['git', 'status', '--porcelain'], cwd=ROOT, capture_output=True, text=True).stdout
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"import json\nroot = '{tmp_path / 'runs'}'\nout = '{tmp_path / 'out.json'}'"),
                *(nbformat.v4.new_code_cell(s) for s in (DATA, MODEL, TASK, USE))]
    nbformat.write(nb, tmp_path / 'field.ipynb')
    run = ("import sys; from execnb.shell import CaptureShell; "
           "CaptureShell(timeout=300).execute(sys.argv[1], sys.argv[2], exc_stop=True)")
    p = subprocess.run([sys.executable, '-c', run, tmp_path / 'field.ipynb', tmp_path / 'field.out.ipynb'], cwd=tmp_path,
                       env=env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
    res = json.loads((tmp_path / 'out.json').read_text())
    m = res['metrics']
    assert m['test_mse'] >= 0 and 'baseline_noedge_test_mse' in m                       # the control trained like the model
    assert abs(res['again']['test_mse'] - m['test_mse']) < 1e-6                          # the saved run gives the same number
    assert res['panels'] == ['samples', 'training curves']                               # its explorer draws its samples
    assert (tmp_path / 'runs' / 'field').is_dir() and str(tmp_path) in res['run_dir']
    after = subprocess.run(['git', 'status', '--porcelain'], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before, f'following the recipe changed files of the package:\n{after}'
