"""The documentation site: built strictly, offline, and checked as a reader sees it in a browser.

* ``mkdocs build --strict`` into ``site/`` (what ``make docs`` runs) succeeds, and a page with a broken link or a
  broken cross-reference makes the same build fail.
* The pages the issue asks for exist; the benchmark tables are the committed JSON rendered by
  ``benchmarks/report.py``; the README's sections are pulled in; every example has its notebook.
* Nothing is fetched from the network: no page or stylesheet refers to a script, stylesheet or font elsewhere.
* Headless Chromium (Debian's ``chromium``) opens the convolution page and the gallery from disk, driven over
  the DevTools protocol on a pipe (``--remote-debugging-pipe``, no extra package): the math is typeset by
  MathJax (SVG output present, no TeX left in the page's text, no MathJax error), every image loaded
  (``naturalWidth > 0``), no request left the machine, and a screenshot is written to
  ``site/screenshots/layer_page.png``.

Without the docs toolchain (the ``docs`` extra) or without Chromium these tests skip, except with ``CI=true``,
where they fail -- as the Keras parity tests do without TensorFlow.
"""

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
SCREENSHOT = SITE / "screenshots" / "layer_page.png"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
]


def _in_ci():
    return os.environ.get("CI", "").strip().lower() == "true"


def _missing(what):
    if _in_ci():
        pytest.fail(f"CI=true but {what}", pytrace=False)
    pytest.skip(what)


def _mkdocs_build(config_dir, site_dir):
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=config_dir,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="module")
def site():
    try:
        import jupytext  # noqa: F401
        import material  # noqa: F401
        import mathjax  # noqa: F401
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as e:
        _missing(f"the docs toolchain cannot be imported ({e}); install the 'docs' extra: pip install -e '.[docs]'")
    result = _mkdocs_build(ROOT, SITE)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return SITE


# ------------------------------------------------------------------------------------------------ the build
def test_every_page_of_the_navigation_is_built(site):
    import yaml

    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def pages(nav):
        for item in nav:
            for value in item.values():
                yield from (pages(value) if isinstance(value, list) else [value])

    sources = list(pages(config["nav"]))
    assert len(sources) >= 25
    for source in sources:
        html = "index.html" if source == "README.md" else source[:-3] + ".html"
        assert (site / html).is_file(), f"{source} in the nav was not built as {html}"
    layer_pages = [s for s in sources if s.startswith("layers/")]
    assert {
        "layers/dense.md",
        "layers/convolution.md",
        "layers/pooling.md",
        "layers/normalization.md",
        "layers/dropout.md",
        "layers/activations.md",
    } <= set(layer_pages)


def test_layer_pages_have_equations_and_their_api_reference(site):
    for page in (ROOT / "docs" / "layers").glob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert "$$" in text or "\\(" in text, f"{page.name} has no equations"
        module = re.search(r"^::: (tinycnn\.layers\.\w+)", text, re.M)
        assert module, f"{page.name} does not show its module's API reference"
        html = (site / "layers" / page.name.replace(".md", ".html")).read_text(encoding="utf-8")
        assert f'id="{module.group(1)}"' in html, f"{page.name}: no API reference for {module.group(1)}"
        assert "Source code in" in html, f"{page.name}: the source is not one click away"
        assert 'class="arithmatex"' in html


def test_benchmark_tables_are_the_committed_json(site):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import report
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    html = (site / "benchmarks.html").read_text(encoding="utf-8") + (site / "keras.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", html)
    for name, _ in report.TABLES:
        for line in report.render(name).splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if line.startswith("| ") and not line.startswith("|---") and re.fullmatch(r"[\d.,×%]+", cells[-1] or "x"):
                assert cells[-1] in text, f"{name}: value {cells[-1]!r} of row {line!r} is not on the site"
    for png in (ROOT / "benchmarks" / "results").glob("*.png"):
        assert (site / "benchmarks" / "results" / png.name).is_file()


def test_readme_sections_and_notebooks_are_on_the_site(site):
    errors = (site / "errors.html").read_text(encoding="utf-8")
    assert "Images without a channel axis" in errors and "InvalidInputError" in errors
    start = (site / "index.html").read_text(encoding="utf-8")
    assert "make demo" in start and "make test" in start and "was: from tensorflow.keras" in start
    notebooks = (site / "notebooks.html").read_text(encoding="utf-8")
    for script in sorted((ROOT / "examples").glob("*.py")):
        nb = site / "notebooks" / f"{script.stem}.ipynb"
        assert nb.is_file(), f"no notebook for {script.name}"
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        assert all(c.get("outputs", []) == [] for c in cells)
        assert f'href="notebooks/{script.stem}.ipynb"' in notebooks


def test_nothing_is_fetched_from_the_network(site):
    external = re.compile(
        r"""<(?:script|img|iframe)[^>]*\ssrc=["']?(?:https?:)?//|<link[^>]*rel=["']?"""
        r"""(?:stylesheet|preload|preconnect|icon)[^>]*href=["']?(?:https?:)?//|"""
        r"""@import\s+url\(["']?(?:https?:)?//|fonts\.googleapis|cdn\.jsdelivr|unpkg\.com""",
        re.I,
    )
    checked = 0
    for path in site.rglob("*"):
        if path.suffix in (".html", ".css"):
            match = external.search(path.read_text(encoding="utf-8", errors="replace"))
            assert match is None, f"{path.relative_to(site)} loads {match.group(0)!r} from the network"
            checked += 1
    assert checked > 30
    assert (site / "assets" / "mathjax" / "tex-svg.js").stat().st_size > 1_000_000


def test_a_broken_link_anchor_or_cross_reference_fails_the_strict_build(site, tmp_path):
    """The same configuration, on a copy of the docs with one bad page: the strict build must refuse it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(ROOT / "docs", repo / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", repo / "mkdocs.yml")
    for name in ("README.md", "benchmarks", "examples", "tinycnn"):
        (repo / name).symlink_to(ROOT / name)
    for bad, complaint in [
        ("[the gallery](no-such-page.md)", "no-such-page.md"),
        ("[Dense][tinycnn.layers.dense.NoSuchLayer]", "tinycnn.layers.dense.NoSuchLayer"),
        ("[pooling](gallery.md#no-such-heading)", "no-such-heading"),
    ]:
        (repo / "docs" / "errors.md").write_text(f"# Common errors\n\nSee {bad}.\n", encoding="utf-8")
        result = _mkdocs_build(repo, tmp_path / "site")
        assert result.returncode != 0, f"the strict build accepted {bad}"
        assert complaint in result.stdout + result.stderr


# --------------------------------------------------------------------------------------- in a real browser
class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe: Chromium reads commands on its fd 3 and
    writes replies and events on its fd 4, each a JSON message ended by a NUL byte."""

    def __init__(self, executable, profile):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium wants them on fds 3 and 4: a Python trampoline puts them there and execs Chromium. The ends
        # are first moved to fds >= 10 so that placing one cannot overwrite the other.
        child_r, child_w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w))
        for fd in (to_browser_r, from_browser_w):
            os.close(fd)
        trampoline = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.close(int(sys.argv[1])); os.close(int(sys.argv[2])); os.execv(sys.argv[3], sys.argv[3:])"
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                trampoline,
                str(child_r),
                str(child_w),
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(child_r, child_w),
        )
        os.close(child_r)
        os.close(child_w)
        self._buffer, self._next_id, self.events = b"", 0, []

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ConnectionError(f"Chromium closed the pipe (exit code {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None, timeout=60):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, session, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def open(self, url, width=1280, height=1800):
        """A new tab showing ``url`` (loaded, images included); returns its session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.call(method, session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        return session

    def evaluate(self, session, expression):
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, session=session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requests(self):
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError, ConnectionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


# What the page shows once MathJax has finished: the typeset formulas, any TeX left in the text, the images.
PAGE_STATE = """
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const text = document.querySelector("article").innerText;
  const tex = text.match(/\\\\(frac|sum|partial|mathbb|left|right|qquad|sqrt|hat)\\b|\\$\\$|\\\\\\(|\\\\\\[/g) || [];
  return {
    mathjax: !!(window.MathJax && MathJax.version),
    arithmatex: document.querySelectorAll(".arithmatex").length,
    typeset: document.querySelectorAll(".arithmatex mjx-container svg").length,
    errors: document.querySelectorAll("mjx-merror, [data-mjx-error]").length,
    tex: tex.slice(0, 10),
    images: Array.from(document.images).map(i => ({src: i.getAttribute("src"), complete: i.complete,
                                                   width: i.naturalWidth})),
    height: document.documentElement.scrollHeight
  };
})()
"""


@pytest.fixture(scope="module")
def chromium(site):
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _missing("Chromium is not installed (Debian: apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="tinycnn-chromium-")
    browser = Chromium(executable, profile)
    try:
        yield browser
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def _check_typeset(state, page):
    assert state["mathjax"], f"{page}: MathJax did not load"
    assert state["arithmatex"] >= 3, f"{page}: only {state['arithmatex']} formulas"
    assert state["typeset"] == state["arithmatex"], (
        f"{page}: {state['arithmatex'] - state['typeset']} of {state['arithmatex']} formulas not typeset"
    )
    assert state["errors"] == 0, f"{page}: MathJax reported errors in {state['errors']} formulas"
    assert state["tex"] == [], f"{page}: raw TeX left in the page text: {state['tex']}"
    broken = [i["src"] for i in state["images"] if not (i["complete"] and i["width"] > 0)]
    assert broken == [], f"{page}: images that did not load: {broken}"


def test_layer_page_math_is_typeset_in_chromium(site, chromium):
    """The convolution page, as a reader sees it, with its screenshot; then every other page with equations."""
    session = chromium.open((site / "layers" / "convolution.html").as_uri())
    state = chromium.evaluate(session, PAGE_STATE)
    _check_typeset(state, "layers/convolution.html")
    assert state["arithmatex"] >= 20 and len(state["images"]) >= 3, state
    shot = chromium.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot))
    png = SCREENSHOT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1280
    for page in sorted((site / "layers").glob("*.html")) + [site / "training.html"]:
        if page.name != "convolution.html":
            _check_typeset(chromium.evaluate(chromium.open(page.as_uri()), PAGE_STATE), page.name)
    outside = [u for u in chromium.requests() if not u.startswith(("file:", "data:", "about:"))]
    assert outside == [], f"the pages asked the network for {outside}"


def test_gallery_images_load_in_chromium(site, chromium):
    session = chromium.open((site / "gallery.html").as_uri())
    state = chromium.evaluate(session, PAGE_STATE)
    shown = {i["src"] for i in state["images"] if i["src"].startswith("images/")}
    expected = set(re.findall(r"\]\((images/[^)\s]+\.png)\)", (ROOT / "docs" / "gallery.md").read_text()))
    assert len(expected) >= 15 and shown == expected, (sorted(shown), sorted(expected))
    broken = [i["src"] for i in state["images"] if not (i["complete"] and i["width"] > 0)]
    assert broken == [], f"images that did not load: {broken}"
    outside = [u for u in chromium.requests() if not u.startswith(("file:", "data:", "about:"))]
    assert outside == [], f"the page asked the network for {outside}"
