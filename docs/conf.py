"""Sphinx configuration of metasim's documentation site.

Build it (the docs extra installs Sphinx, MyST, Furo and sphinx-click)::

    python3 -m pip install -e ".[docs]"
    python3 -m sphinx -b html docs docs/_build/html

``docs/`` itself is the source folder, so the pages that other files link to
(``model-and-evidence.md``, ``references.md``, ``architecture.md``, ``cluster.md``) stay where
they are. The pages are Markdown (MyST); the API reference is generated from the docstrings
of the ``sim`` package (NumPy style, read by napoleon) and the command-line reference from
the ``metasim`` command itself (sphinx-click), so neither can drift from the code.
``tests/docs/test_docs_site.py`` builds the site with ``-W``: a warning fails the suite.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

# autodoc imports sim, which imports matplotlib: no display is needed or wanted.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "metasim"
author = "metasim developers"
copyright = "metasim developers, MIT licence"
try:
    release = _installed_version("metasim")
except PackageNotFoundError:  # docs built from a source tree without installing
    release = "0.0.0+unknown"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx_click",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# _build: the site itself when built into docs/_build (the README's command).
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# --- Markdown (MyST) -----------------------------------------------------------------------
# Headings get GitHub-style anchors, so a link such as
# `model-and-evidence.md#bayesian-calibration-and-out-of-sample-validation` works on GitHub
# and on the site alike.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "deflist"]

# --- API reference (autodoc + napoleon) ----------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_docstring_signature = True
napoleon_numpy_docstring = True
napoleon_google_docstring = False
# An "Attributes" section of a class docstring becomes a field list (:ivar:) rather than
# attribute entries of its own: the same attributes are often documented again by a `#:`
# comment where they are set, and two entries for one name are a duplicate-object warning.
napoleon_use_ivar = True

# --- Page look ---------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"metasim {release}"
html_static_path: list[str] = []
pygments_style = "sphinx"
pygments_dark_style = "monokai"


# --- The API pages: every public module of a package, found at build time ---------------------

def _public_modules(package: str) -> list[str]:
    """Every module and subpackage under ``package`` whose dotted name has no part starting
    with ``_``, in alphabetical order."""
    pkg = importlib.import_module(package)
    found = []
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return sorted(found)


def setup(app):
    from docutils.statemachine import StringList
    from sphinx.ext.napoleon import _process_docstring
    from sphinx.util.docutils import SphinxDirective
    from sphinx.util.nodes import nested_parse_with_titles

    class PackageModules(SphinxDirective):
        """``.. metasim-modules:: sim.engine``: one section per public module of the package,
        each with its docstring and documented members. The list is taken from the package at
        build time, so a new module is documented without anyone remembering to add it."""

        required_arguments = 1

        def run(self):
            lines: list[str] = []
            for name in _public_modules(self.arguments[0]):
                title = f"``{name}``"
                lines += [title, "-" * len(title), "", f".. automodule:: {name}",
                          "   :members:", ""]
            from docutils import nodes

            holder = nodes.section()
            holder.document = self.state.document
            nested_parse_with_titles(self.state, StringList(lines, source=self.arguments[0]),
                                     holder)
            return holder.children

    app.add_directive("metasim-modules", PackageModules)

    # napoleon reads the first line of an attribute's docstring as "type: description" when
    # it holds a colon. metasim documents attributes in prose (`#: 0: a solitary cell ...;
    # 1: ...`, `#: (bin, patient, organ, unit kind): expected colonies`), which napoleon
    # would turn into bogus types (and cross-references to them). NumPy-style sections are
    # only used in module, class and function docstrings, so attributes, module data and
    # properties skip napoleon and are shown as written.
    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is _process_docstring:
            app.disconnect(listener.id)

    def napoleon_except_attributes(app, what, name, obj, options, lines):
        if what not in ("attribute", "data", "property"):
            _process_docstring(app, what, name, obj, options, lines)

    app.connect("autodoc-process-docstring", napoleon_except_attributes)

    # matplotlib gives every Artist subclass a generated `set` method whose docstring is
    # matplotlib's own (it uses a role only matplotlib's documentation defines). It is not
    # metasim's API, so members defined outside metasim's modules are left out.
    def skip_foreign_members(app, what, name, obj, skip, options):
        module = getattr(obj, "__module__", None)
        if (what == "class" and inspect.isroutine(obj) and isinstance(module, str)
                and module.split(".")[0] != "sim"):
            return True
        return None

    app.connect("autodoc-skip-member", skip_foreign_members)
