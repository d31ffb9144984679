"""Every registered task and model trains and tests a `fast_dev_run` in every precision the device supports: no
epoch lost at the first validation (issue 22 §3: metrics converting a bfloat16 tensor with `.numpy()`)."""
import math
import warnings

import pytest
import torch

from graphlab.core import ConfigError
from graphlab.models.cnn import CNN_MODELS
from graphlab.tasks import get_task, task_names
from graphlab.runs import train

# the smallest data of each task that has every split, and every model a task offers
TINY = {'classify': ['data=digits', 'resolution=16'],
        'com': ['n_graphs=60', 'hidden_dim=8', 'num_layers=2'],
        'nbody': ['n_train=20', 'n_val=10', 'n_test=10', 'trainer.batch_size=10', 'hidden_dim=8', 'num_layers=2'],
        'image2graph': ['n_train=16', 'n_val=8', 'n_test=8', 'trainer.batch_size=8'],
        'mesh': ['num_vertices=64', 'k=6', 'channels=[8,16]', 'global_dim=32', 'embedding_dim=16', 'samples_per_class=3',
                 'trainer.batch_size=2', 'umap=false'],
        'brain': ['n_subjects=4', 'n_regions=12', 'n_frames=80', 'window=16', 'horizon=2', 'k=3', 'hidden=8',
                  'n_blocks=4', 'stride=8', 'trainer.batch_size=8', 'pipelines=false'],
        'toy': []}
MODELS = {'classify': [f'model={m}' for m in CNN_MODELS.names()], 'com': ['model=egnn', 'model=gcn'],
          'image2graph': ['model=a', 'model=b'], 'brain': ['objective=forecast', 'objective=classify model=connectome']}
# 32 is what every other test trains in; on a CPU 16-mixed runs as bf16-mixed (it says so), so it is tested on CUDA only
PRECISIONS = ['bf16-mixed', 'bf16-true'] + (['16-mixed', '16-true'] if torch.cuda.is_available() else [])


def cases():
    assert set(TINY) == set(task_names()), f"give every registered task a tiny budget: {set(task_names()) ^ set(TINY)}"
    for task in task_names():
        for model in MODELS.get(task, ['']):
            for p in PRECISIONS: yield pytest.param(task, model.split(), p, id=f"{task}-{model or 'default'}-{p}")


@pytest.mark.parametrize('task,model,precision', list(cases()))
def test_fast_dev_run_in_every_precision(task, model, precision, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = lambda: train(task, [*TINY[task], *model, f'trainer.precision={precision}', 'trainer.fast_dev_run=2',
                               'profile=false', 'baselines=false', 'trainer.threads=1', 'trainer.progress=none'])
    if precision.endswith('-true') and get_task(task).half_weights:     # a task that says why it keeps float32 weights
        with pytest.raises(ConfigError, match='use trainer.precision=bf16-mixed'): run()
        return
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')          # 16-mixed on a CPU says it runs bf16-mixed
        r = run()
    tested = {k: v for k, v in r.metrics.items() if k.startswith('test_') and isinstance(v, float)}
    assert tested, f"{task} {model} {precision}: no test metrics"
    assert any(math.isfinite(v) for v in tested.values()), tested
