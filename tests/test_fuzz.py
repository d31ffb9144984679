"""Property-based tests of the public entry points (issue 13, section 4).

Every input ends in a result or in one of graphlab's own errors (`InputError` and its subclasses) with a message;
never another exception type, never a NaN where a number is promised. Examples are derandomised under CI, so a run
is repeatable; run locally without `CI` to explore new ones.
"""
import io, math, os, re, tempfile, warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from graphlab import metrics as M
from graphlab.config import config_from_dict, config_keys, load_config, parse_overrides, read_yaml
from graphlab.core import InputError
from graphlab.data.images import IMAGE_EXTENSIONS, image_folder
from graphlab.studies import expand_grid, load_grid, run_names
from graphlab.tasks import get_task
from graphlab.runs import run_config_class


def fuzz(n: int):
    "Settings for one property: `n` examples, no deadline (the machine is shared), no example database on disk."
    return settings(max_examples=n, deadline=None, derandomize=bool(os.environ.get('CI')), database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def ends_well(fn, *args, **kw):
    "`fn(*args, **kw)`, or None when it raised an `InputError` with a message; any other exception fails the test."
    try: return fn(*args, **kw)
    except InputError as e:
        assert str(e).strip(), f"{type(e).__name__} without a message"
        return None


# --- configuration: overrides, YAML-shaped dicts, the classify run config -------------------------------------------

RUN = run_config_class(get_task('classify'))
KEYS = config_keys(RUN)
text = st.text(st.characters(blacklist_categories=('Cs',)), max_size=12)
values = st.one_of(text, st.sampled_from(['0', '1', '-1', '1e6', 'nan', 'inf', 'true', 'none', 'null', '[1, 2]',
                                          '[', '1,2', '32', 'bf16', 'adamw', 'cosine', 'max', '0.5']),
                   st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(str))
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).map(lambda k: k + 'x'), text,
                 st.sampled_from(KEYS).map(lambda k: k.rsplit('.', 1)[0] + '.' if '.' in k else k + '.y'))


@fuzz(300)
@given(st.lists(st.one_of(st.tuples(keys, values).map('='.join), text), max_size=6))
def test_overrides(overrides):
    "`key=value` strings from a command line: a config, or a `ConfigError` that names the problem."
    d = ends_well(parse_overrides, overrides)
    if d is not None: assert isinstance(d, dict)
    cfg = ends_well(load_config, RUN, overrides=overrides)
    if cfg is not None: assert isinstance(cfg, RUN)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9), st.floats(allow_nan=True), text)
yaml_values = st.recursive(yaml_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                             st.dictionaries(st.one_of(keys, st.integers()), c, max_size=3)),
                           max_leaves=8)


@fuzz(300)
@given(st.dictionaries(st.one_of(st.sampled_from([k.split('.')[0] for k in KEYS]), keys), yaml_values, max_size=5))
def test_config_from_dict(d):
    "A mapping as a YAML file holds it: a config, or a `ConfigError`."
    cfg = ends_well(config_from_dict, RUN, d)
    if cfg is not None: assert isinstance(cfg, RUN)


@fuzz(100)
@given(st.text(max_size=200))
def test_config_file(content):
    "Any text as a `--config` file: a config, or an `InputError` naming the file or the key."
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / 'run.yaml'; f.write_text(content)
        ends_well(load_config, RUN, files=[f])


@pytest.mark.parametrize('read', [read_yaml, load_grid], ids=['read_yaml', 'load_grid'])
def test_yaml_file_not_utf8(tmp_path, read):
    f = tmp_path / 'config.yaml'; f.write_bytes(b'\xff\xfe\x00 not text')
    with pytest.raises(InputError, match=r"config.yaml.*(UTF-8|utf-8)"): read(f)


# --- study grids: only the public functions; unknown keys are allowed to be errors or new features ----------------

params = st.dictionaries(st.text('abcxyz_', min_size=1, max_size=4),
                         st.one_of(yaml_scalars, st.lists(yaml_scalars, max_size=3),
                                   st.lists(st.dictionaries(st.text('abc', min_size=1, max_size=2), yaml_scalars,
                                                            max_size=2), max_size=2)), max_size=3)
grids = st.fixed_dictionaries({}, optional={
    'parameters': st.one_of(params, yaml_values), 'seeds': st.one_of(st.lists(st.integers(0, 3), max_size=3), yaml_values),
    'runs': st.one_of(st.lists(params, max_size=2), yaml_values), 'exclude': st.one_of(st.lists(params, max_size=2), yaml_values),
    'key_metric': yaml_scalars, 'timeout': yaml_scalars, 'nonsense': yaml_scalars})


@fuzz(300)
@given(grids)
@example({'runs': None}).via('found by this test')
@example({'exclude': None, 'parameters': {0: 'x'}}).via('found by this test')
@example({'parameters': {'a': [{'b': 1, 2: 3}]}}).via('found by this test')
def test_grid(grid):
    "A grid mapping (`runs: null` and non-string keys included): runs with unique names, or an `InputError`."
    g = ends_well(load_grid, grid)
    if g is None: return
    runs = ends_well(expand_grid, g)
    if runs is None: return
    assert all(isinstance(r, dict) and 'seed' in r for r in runs)
    names = ends_well(run_names, runs)
    if names is not None: assert len(set(names)) == len(names) == len(runs)


@fuzz(100)
@given(st.text(max_size=200))
def test_grid_file(content):
    "Any text as a grid file."
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / 'grid.yaml'; f.write_text(content)
        g = ends_well(load_grid, f)
        if g is not None: ends_well(expand_grid, g)


# --- data readers: each entry writes random files under a folder and returns the call that reads them -------------

def image_folder_case(data, root: Path):
    "Class folders with a few tiny images of random sizes and modes, some files random bytes or empty."
    for c in ['cat', 'dog', '.hidden', 'owl'][:data.draw(st.sampled_from([0, 1] + [2] * 6 + [3, 4]), 'classes')]:
        (root / c).mkdir()
        for i in range(data.draw(st.sampled_from([0, 1, 2, 3] + [8] * 12), 'files')):
            ext = data.draw(st.sampled_from(IMAGE_EXTENSIONS * 3 + ('.txt',)), 'ext')
            kind = data.draw(st.sampled_from(['image'] * 8 + ['bytes', 'empty']), 'kind')
            if kind == 'image':
                mode = data.draw(st.sampled_from(['L', 'RGB', 'RGBA', 'P', '1', 'I;16']), 'mode')
                size = data.draw(st.tuples(st.integers(1, 12), st.integers(1, 12)), 'size')
                buf = io.BytesIO()
                im = Image.new(mode, size)
                if ext in ('.jpg', '.jpeg') and mode not in ('L', 'RGB'): im = im.convert('RGB')
                im.save(buf, format='PNG' if ext in ('.png', '.txt') else 'JPEG')
                blob = buf.getvalue()
            else: blob = data.draw(st.binary(max_size=64), 'bytes') if kind == 'bytes' else b''
            (root / c / f'{i}{ext}').write_bytes(blob)
    kw = dict(resolution=data.draw(st.sampled_from([-1, 0, 1, 2, 5] + [8] * 6 + [12]), 'resolution'), channels=data.draw(st.sampled_from([1] + [3] * 6 + [2]), 'channels'),
              val_fraction=data.draw(st.sampled_from([0.15] * 12 + [0.0, 0.3, 0.5, float('nan')]), 'val'),
              test_fraction=data.draw(st.sampled_from([0.15] * 8 + [0.2, 0.6]), 'test'))

    def read():
        d = image_folder(str(root), **kw)
        x, y = d.splits['test'][0]
        assert x.shape == (d.in_channels, d.resolution, d.resolution) and 0 <= y < d.num_classes
        assert all(math.isfinite(v) for v in d.mean + d.std)
        return d
    return read


def pyg_graphs_case(data, root):
    "A saved PyG dataset (graphlab.data.pyg.read_graphs) of random, often broken graphs, or a file of random bytes."
    from torch_geometric.data import Data
    from graphlab.data.pyg import read_graphs
    f = root / 'data.pt'
    if data.draw(st.booleans(), 'random bytes'):
        f.write_bytes(data.draw(st.binary(max_size=64), 'bytes'))
        return lambda: read_graphs(f)
    graphs = []
    for _ in range(data.draw(st.integers(0, 4), 'graphs')):
        n = data.draw(st.integers(0, 5), 'nodes')
        g = dict(pos=torch.from_numpy(data.draw(floats((n, data.draw(st.sampled_from([3] * 5 + [2]), 'dim'))), 'pos')))
        masses = data.draw(st.sampled_from(['z', 'mass', 'none']), 'masses')
        if masses == 'z': g['z'] = torch.from_numpy(data.draw(hnp.arrays(np.int64, n, elements=st.integers(-1, 60))))
        if masses == 'mass': g['mass'] = torch.from_numpy(data.draw(floats((data.draw(st.sampled_from([n, n + 1])),))))
        if data.draw(st.booleans(), 'edges'):
            g['edge_index'] = torch.from_numpy(data.draw(hnp.arrays(np.int64, (2, 3), elements=st.integers(-1, 6))))
        graphs.append(Data(**g))
    torch.save(graphs, f)
    return lambda: read_graphs(f, radius=1.5)


# Readers being written by other engineers land here after the merge: graph files (graphlab.data.geometric),
# HDF5 meshes (graphlab.data.meshes), brain arrays (graphlab.data.brain). Add `pytest.param(case_fn, id=name)` where
# `case_fn(data, root)` writes random (often broken) files under `root` and returns the call that reads them.
READERS = [pytest.param(image_folder_case, id='image_folder'), pytest.param(pyg_graphs_case, id='pyg_graphs')]


@pytest.mark.parametrize('case', READERS)
@fuzz(100)
@given(data=st.data())
def test_reader(case, data):
    "A reader on random files: a dataset, or an `InputError` naming the problem."
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter('ignore')                                    # skipped files are reported in a warning
        try: case(data, Path(d))(); event('read')
        except InputError as e:
            assert str(e).strip()
            event('InputError: ' + ' '.join(re.sub(r"'[^']*'", '…', str(e)).split()[:5]))   # --hypothesis-show-statistics


# --- metrics on degenerate inputs ------------------------------------------------------------------------------------
# Policy: a metric returns a finite float, an `Undefined` (a NaN that says why), or raises an InputError, for every
# input. Empty inputs and non-finite values (NaN, inf) are errors (there is no honest number for them); undefined:
# the silhouette of fewer than 2 clusters or one node per cluster, edge AUROC when all pairs are of one kind,
# retrieval with no relevant item; the limit cases below are values: ari/nmi of identical or one-cluster labelings
# 1.0 (scikit-learn's convention), modularity 0.0 for a graph without edges, precision/recall/F1 0.0 when nothing
# was predicted or nothing was there.

def finite(d):
    for k, v in (d.items() if isinstance(d, dict) else [('value', d)]):
        if k == 'confusion_matrix' or isinstance(v, M.Undefined) and v.reason: continue
        assert isinstance(v, float) and math.isfinite(v), (k, v)


n_items = st.integers(0, 7)
anyfloat = st.floats(allow_nan=True, allow_infinity=True, width=32)
labels = lambda n: hnp.arrays(np.int64, n, elements=st.integers(-1, 3))
floats = lambda shape: hnp.arrays(np.float64, shape, elements=st.one_of(st.floats(-3, 3), anyfloat))


@fuzz(300)
@given(st.data())
def test_label_metrics(data):
    n = data.draw(n_items)
    t, p = data.draw(labels(n)), data.draw(st.one_of(labels(n), floats(n), labels(data.draw(n_items))))
    finite(ends_well(M.classification_metrics, t, p) or 0.0)
    finite(ends_well(M.classification_metrics, t, p, num_classes=data.draw(st.integers(0, 4))) or 0.0)
    for f in (M.ari, M.nmi):
        v = ends_well(f, t, p)
        if v is not None: finite(v)


@fuzz(200)
@given(st.data())
def test_graph_metrics(data):
    n = data.draw(n_items)
    adj = data.draw(floats((n, n)))
    lab = data.draw(labels(n))
    for v in (ends_well(M.modularity, adj, lab), ends_well(M.silhouette, data.draw(floats((n, 2))), lab)):
        if v is not None: finite(v)
    g = ends_well(M.graph_properties, adj)
    if g is not None: finite(g)


@fuzz(200)
@given(st.data())
def test_edge_and_detection_metrics(data):
    b, n = data.draw(st.integers(0, 3)), data.draw(n_items)
    true = data.draw(hnp.arrays(np.float64, (b, n, n), elements=st.sampled_from([0.0, 1.0])))
    pred = data.draw(floats((b, n, n)))
    mask = data.draw(st.one_of(st.none(), hnp.arrays(bool, (b, n))))
    e = ends_well(M.edge_metrics, true, pred, mask)
    if e is not None: finite(e)
    pos = lambda: st.lists(floats((data.draw(n_items), 2)), min_size=b, max_size=b)
    d = ends_well(M.detection_metrics, data.draw(pos()), data.draw(pos()), data.draw(st.sampled_from([0.1, 1.0, float('inf')])))
    if d is not None: finite(d)


@fuzz(200)
@given(st.data())
def test_regression_metrics(data):
    shape = data.draw(st.sampled_from([(0,), (0, 3), (1,), (5,), (4, 3), (2, 2, 2)]))
    t, p = data.draw(floats(shape)), data.draw(st.one_of(floats(shape), floats((3,))))
    r = ends_well(M.regression_metrics, t, p, names=data.draw(st.sampled_from([None, ['x', 'y', 'z']])))
    if r is not None: finite(r)
    kind = data.draw(st.sampled_from(list(M.REGRESSION_LOSSES) + ['l3']))
    loss = ends_well(M.regression_loss, torch.as_tensor(p), torch.as_tensor(t).reshape(p.shape) if t.shape == p.shape
                     else torch.as_tensor(p), kind)
    if loss is not None: assert loss.ndim == 0
