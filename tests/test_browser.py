"""JupyterLab in a real browser: every tutorial runs to the end without an error, its explorers from
`graphlab.viz` render, moving a slider redraws, and a screenshot of each lands in outputs/browser/.

The browser is Debian's `chromium` (or $GRAPHLAB_CHROMIUM), driven by Playwright; nothing is downloaded.
JupyterLab listens on 127.0.0.1 with a token and runs from a temporary directory with its own settings."""
import ctypes, json, os, secrets, shutil, signal, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from graphlab.trainer.distributed import free_port

CHROMIUM = os.environ.get('GRAPHLAB_CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser')
TUTORIALS = sorted(p.name for p in (ROOT / 'nbs' / 'tutorials').glob('*.ipynb'))
SHOTS = ROOT / 'outputs' / 'browser'

try: from playwright.sync_api import sync_playwright
except ImportError: sync_playwright = None

BROWSER = CHROMIUM is not None and sync_playwright is not None and os.environ.get('GRAPHLAB_BROWSER_TEST', '1') != '0'
pytestmark = pytest.mark.skipif(not BROWSER,
                                reason='SKIPPED browser test (GRAPHLAB_BROWSER_TEST=0, or no chromium executable: apt-get '
                                       'install chromium or set GRAPHLAB_CHROMIUM, or no playwright: pip install -e ".[dev]"); '
                                       'tests/test_tutorials.py runs the tutorials under papermill instead')


def _die_with_parent() -> None:
    "In the server process: end when pytest ends, however it ends (its kernels follow their parent)."
    try: ctypes.CDLL('libc.so.6').prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError): pass


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "A JupyterLab server on 127.0.0.1 with a token, serving a copy of the tutorials; yields its base URL and token."
    tmp = tmp_path_factory.mktemp('lab')
    shutil.copytree(ROOT / 'nbs' / 'tutorials', tmp / 'root' / 'tutorials')
    settings = tmp / 'settings' / '@jupyterlab' / 'notebook-extension'
    settings.mkdir(parents=True)
    (settings / 'tracker.jupyterlab-settings').write_text(json.dumps({'windowingMode': 'none'}))   # every cell in the DOM
    (tmp / 'config' / 'labconfig').mkdir(parents=True)
    (tmp / 'config' / 'labconfig' / 'page_config.json').write_text(json.dumps(
        {'disabledExtensions': {'@jupyterlab/apputils-extension:announcements': True}}))              # no news pop-up, no fetch
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, 'JUPYTERLAB_SETTINGS_DIR': str(tmp / 'settings'), 'JUPYTERLAB_WORKSPACES_DIR': str(tmp / 'ws'),
           'JUPYTER_CONFIG_DIR': str(tmp / 'config'), 'JUPYTER_RUNTIME_DIR': str(tmp / 'runtime'),
           'GRAPHLAB_DATA': str(ROOT / 'data'), 'GRAPHLAB_PROGRESS': 'none'}
    log = open(tmp / 'lab.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
                             f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={tmp / "root"}',
                             '--LabApp.expose_app_in_browser=True', '--ServerApp.port_retries=0',
                             *(['--allow-root'] if os.geteuid() == 0 else [])],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_die_with_parent)
    url = f'http://127.0.0.1:{port}'
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2): break
            except OSError:
                if proc.poll() is not None: break
                time.sleep(0.5)
        else: pytest.fail(f'JupyterLab did not answer in 60 s:\n{(tmp / "lab.log").read_text()[-3000:]}')
        if proc.poll() is not None: pytest.fail(f'JupyterLab exited with {proc.returncode}:\n{(tmp / "lab.log").read_text()[-3000:]}')
        yield url, token
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    "End the server and its kernels (its process group)."
    try:
        os.killpg(proc.pid, 15)
        proc.wait(20)
    except ProcessLookupError: pass
    except subprocess.TimeoutExpired: os.killpg(proc.pid, 9)


@pytest.fixture(scope='module')
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=['--no-sandbox', '--disable-gpu'])
        yield b
        b.close()


# the notebook panel of one path (JupyterLab may restore other tabs; never trust `currentWidget`)
PANEL = """(path) => window.jupyterapp && [...window.jupyterapp.shell.widgets('main')]
  .find(w => w.context && w.context.path === path && w.content && w.sessionContext)"""

KERNEL_IDLE = f"""(path) => {{ const w = ({PANEL})(path);
  const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && w.content.widgets.length > 0; }}"""

FINISHED = f"""(path) => {{ const w = ({PANEL})(path);
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errored = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  const running = [...w.node.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*'));
  const done = cells.every(c => c.model.executionCount !== null || c.model.sharedModel.getSource().trim() === '');
  return !!k && k.status === 'idle' && !running && (done || errored); }}"""

ERRORS = f"""(path) => ({PANEL})(path).content.widgets.flatMap((c, i) => c.model.type !== 'code' ? [] :
  c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => `cell ${{i}}: ${{o.ename}}: ${{o.evalue}}`))"""

RUN_ALL = f"""async (path) => {{ const w = ({PANEL})(path);
  window.jupyterapp.shell.activateById(w.id);
  await window.jupyterapp.commands.execute('notebook:run-all-cells'); }}"""

SHUTDOWN = f"""async (path) => {{ const w = ({PANEL})(path); if (w) await w.sessionContext.shutdown(); }}"""


def _explorer_image(explorer) -> str:
    "The src of the image an explorer shows (its visible panel)."
    return explorer.locator('.widget-output img:visible').first.get_attribute('src') or ''


@pytest.mark.parametrize('name', TUTORIALS)
def test_tutorial_in_jupyterlab(lab, browser, name):
    url, token = lab
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    path = f'tutorials/{name}'
    try:
        page.goto(f'{url}/lab/workspaces/{Path(name).stem}/tree/{path}?reset&token={token}')   # a fresh workspace: this tab only
        page.wait_for_function(KERNEL_IDLE, arg=path, timeout=120_000, polling=500)
        page.evaluate(RUN_ALL, path)
        page.wait_for_timeout(2000)
        page.wait_for_function(FINISHED, arg=path, timeout=420_000, polling=1000)
        errors = page.evaluate(ERRORS, path)
        assert not errors, f'{name}: cells raised in JupyterLab: {errors}'

        explorers = page.locator('.graphlab-explorer')
        assert explorers.count() >= 1, f'{name}: no graphlab.viz explorer rendered (no .graphlab-explorer in the page)'
        ex = explorers.first
        ex.scroll_into_view_if_needed()
        ex.locator('.widget-output img:visible').first.wait_for(timeout=60_000)
        before = _explorer_image(ex)
        assert before.startswith('data:image/'), f'{name}: the explorer shows no figure'
        handle = ex.locator('.widget-slider .noUi-handle').first
        handle.focus(); handle.press('ArrowRight')                  # sample 0 -> 1
        page.wait_for_function("([el, src]) => { const i = [...el.querySelectorAll('.widget-output img')]"
                               ".find(x => x.offsetParent !== null); return i && i.src !== src; }",
                               arg=[ex.element_handle(), before], timeout=60_000)
        page.wait_for_function(KERNEL_IDLE, arg=path, timeout=60_000)
        page.wait_for_timeout(500)
        SHOTS.mkdir(parents=True, exist_ok=True)
        ex.screenshot(path=str(SHOTS / f'{Path(name).stem}.png'))
        page.screenshot(path=str(SHOTS / f'{Path(name).stem}-page.png'))
    finally:
        try: page.evaluate(SHUTDOWN, path)                               # end this tutorial's kernel
        except Exception: pass
        page.close()
