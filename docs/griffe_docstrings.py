"""A griffe extension (used by mkdocstrings for the API pages) that makes tinycnn's docstrings render as they
read in ``help()``, without changing them:

* doctest blocks (``>>>`` lines and the output under them) become code blocks -- left as they are, Markdown
  would run them into a paragraph and take ``[[0.0, 1.0]]`` for a link, and the NumPy parser would read a
  doctest after ``Parameters`` as more parameters;
* Sphinx roles (``:func:`tinycnn.kernels.conv_geometry```, ``:mod:`~tinycnn.losses```) become inline code.
"""

import re

import griffe

ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|obj|exc):`~?([^`]+)`")


def fence_doctests(text):
    """Doctests in free text become ``pycon`` blocks; doctests that follow a NumPy section (``Parameters`` ...)
    get an ``Examples`` heading of their own, where the NumPy parser renders them as code itself."""
    lines = text.splitlines()
    out, block, section, in_fence = [], [], None, False
    for i, line in enumerate(lines + [""]):
        if block:
            if line.strip():
                block.append(line)
                continue
            if section is None:
                out += ["```pycon", *block, "```"]
            else:
                if section != "Examples":
                    out += ["Examples", "--------"]
                    section = "Examples"
                out += block
            block = []
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.strip() and i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()):
            section = line.strip()
        if line.startswith(">>>") and not in_fence:
            block.append(line)
            continue
        out.append(line)
    return "\n".join(out[:-1])  # the last line is the sentinel


class DocstringsAsInHelp(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(r"`\1`", fence_doctests(obj.docstring.value))
