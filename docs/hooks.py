"""MkDocs hooks that make the site from the sources that already exist, so nothing is kept twice.

* ``<!-- readme: Section title -->`` in a page is replaced by that ``## Section title`` of the top-level
  README.md (its body, without the heading). Links into the repository are rewritten for the site: images and
  benchmark plots stay images, ``tinycnn/...`` links go to the API page of that module, ``examples/X.py`` to
  the notebook of X, and links to files the site does not publish (tests, benchmark scripts) become plain text.
* ``<!-- report: NAME.json -->`` ... ``<!-- /report -->`` blocks are rendered from ``benchmarks/results/NAME.json``
  by ``benchmarks/report.py`` -- the same function that writes the README's tables -- so a table on the site
  is always the committed JSON, whatever the README says.
* ``<!-- notebooks -->`` becomes the table of every ``examples/*.py`` with its notebook: each script is turned
  into ``notebooks/NAME.ipynb`` by jupytext at build time (no outputs; the script is the one source).
* MathJax 3 (its SVG output, which needs no web fonts and so works from ``file://``) is copied from the
  ``django-static-mathjax`` package into ``assets/mathjax/``: no CDN at build or view time.
"""

import importlib.util
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# tinycnn source paths (prefixes) -> the API page that shows them, for links in README sections.
API_PAGES = [
    ("tinycnn/models", "api/models.md"),
    ("tinycnn/layers", "api/layers.md"),
    ("tinycnn/optimizers", "api/optimizers.md"),
    ("tinycnn/losses", "api/losses.md"),
    ("tinycnn/metrics", "api/losses.md"),
    ("tinycnn/activations", "api/activations.md"),
    ("tinycnn/callbacks", "api/callbacks.md"),
    ("tinycnn/kernels", "api/kernels.md"),
    ("tinycnn/gradcheck", "api/gradcheck.md"),
    ("tinycnn/plot", "api/plot.md"),
]

README_SECTION = re.compile(r"<!-- readme: (?P<title>[^>]+?) -->")
REPORT_BLOCK = re.compile(r"<!-- report: (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /report -->", re.S)
LINK = re.compile(r"(?P<img>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
HTML_SRC = re.compile(r'src="(?P<target>[^"]+)"')


def _report_module():
    spec = importlib.util.spec_from_file_location("tinycnn_benchmark_report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_section(title, text=None):
    """The body of ``## title`` in README.md (up to the next ``## ``), or a KeyError naming the titles."""
    text = (ROOT / "README.md").read_text(encoding="utf-8") if text is None else text
    parts = re.split(r"^## ", text, flags=re.M)
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        if heading.strip() == title:
            return body.strip("\n") + "\n"
    raise KeyError(
        f"README.md has no section '## {title}'; it has: " + ", ".join(p.partition("\n")[0].strip() for p in parts[1:])
    )


def site_target(target):
    """Where a link written in README.md (relative to the repository root) points on the site, or None when
    the site does not publish that file (the link then becomes its text)."""
    if re.match(r"^[a-z]+:|^#", target):
        return target
    path, _, anchor = target.partition("#")
    path = path.rstrip("/")
    if path.startswith("docs/"):
        return target[len("docs/") :]
    if path.startswith("benchmarks/results/") and path.endswith(".png"):
        return path
    if path.startswith("examples/") and path.endswith(".py"):
        return f"notebooks.md#{Path(path).stem}"
    for prefix, page in API_PAGES:
        if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "."):
            return page
    return None


def rewrite_links(markdown):
    def link(m):
        target = site_target(m["target"])
        if target is None:
            return m["text"]
        return f"{m['img']}[{m['text']}]({target})"

    markdown = LINK.sub(link, markdown)
    return HTML_SRC.sub(lambda m: f'src="{site_target(m["target"]) or m["target"]}"', markdown)


def render_reports(markdown):
    report = None

    def block(m):
        nonlocal report
        report = report or _report_module()
        return f"<!-- report: {m['name']} -->\n{report.render(m['name'])}\n<!-- /report -->"

    return REPORT_BLOCK.sub(block, markdown)


def example_scripts():
    return sorted(EXAMPLES.glob("*.py"))


def example_title(script):
    """The first Markdown heading of a ``# %%`` script, e.g. ``Fashion-MNIST with the course's CNN``."""
    for line in script.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#\s+#+\s+(.*)", line)
        if m:
            return m.group(1).strip()
    return script.stem


SETUP_TAG = "notebook-setup"


def script_to_notebook(script, first_cells=()):
    """``examples/NAME.py`` (``# %%`` cells) as an .ipynb text, with no outputs: jupytext does the pairing.

    One cell is added after the title, tagged ``notebook-setup``, for what a script has and a notebook kernel
    does not: ``__file__`` (an example that finds its neighbours through it runs unchanged when the notebook sits
    beside the scripts in ``examples/``), and a ``sys.argv`` of the script's own (the kernel's ``-f FILE``
    would otherwise reach the example's argument parser). ``first_cells`` (code strings) go before everything; the
    notebook tests put their small-data arguments there.
    """
    import jupytext
    import nbformat

    notebook = jupytext.read(script, fmt="py:percent")
    setup = nbformat.v4.new_code_cell(
        f"__file__ = {script.name!r}  # a notebook has no __file__: the script's name, beside it in examples/\n"
        f"import sys\n"
        f"if sys.argv[0].endswith('ipykernel_launcher.py'):  # the kernel's own arguments are not the script's\n"
        f"    sys.argv = [__file__]",
        metadata={"tags": [SETUP_TAG]},
    )
    at = 1 if notebook.cells and notebook.cells[0].cell_type == "markdown" else 0
    notebook.cells.insert(at, setup)
    notebook.cells[:0] = [nbformat.v4.new_code_cell(code) for code in first_cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    return jupytext.writes(notebook, fmt="ipynb")


def notebooks_table():
    rows = ["| example | notebook | script (`python examples/NAME.py`) |", "|---|---|---|"]
    for script in example_scripts():
        name = script.stem
        rows.append(
            f'| <span id="{name}"></span>**{example_title(script)}** | '
            f"[{name}.ipynb](notebooks/{name}.ipynb) | [{name}.py](notebooks/{name}.py) |"
        )
    return "\n".join(rows) + "\n"


def on_files(files, config):
    # MathJax from its package: the SVG output component and what it may load on demand.
    import mathjax

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    wanted = [es5 / "tex-svg.js"] + [
        p for sub in ("input/tex/extensions", "ui", "a11y") for p in sorted((es5 / sub).rglob("*.js"))
    ]
    for path in wanted:
        files.append(
            File.generated(config, "assets/mathjax/" + path.relative_to(es5).as_posix(), abs_src_path=str(path))
        )
    # The benchmark plots the README shows, at the same relative paths as in the README.
    for png in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        files.append(File.generated(config, f"benchmarks/results/{png.name}", abs_src_path=str(png)))
    # Every example as a notebook (generated now, never committed) and as its script.
    for script in example_scripts():
        files.append(File.generated(config, f"notebooks/{script.stem}.ipynb", content=script_to_notebook(script)))
        files.append(File.generated(config, f"notebooks/{script.name}", abs_src_path=str(script)))
    return files


def on_page_markdown(markdown, page, config, files):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    markdown = README_SECTION.sub(lambda m: rewrite_links(readme_section(m["title"], readme)), markdown)
    markdown = markdown.replace("<!-- notebooks -->", notebooks_table())
    return render_reports(markdown)
