"""The look every metasim picture shares: hypothesis styles, colours, font sizes, organ names,
and figures that never touch the user's matplotlib backend yet show in a notebook when a
cell ends with one (:class:`ShownFigure`).

Figures are meant for slides as well as screens and for black-and-white print: hypotheses
differ by hatch, marker and line style as well as colour, no text is smaller than
:data:`MIN_FONTSIZE`, and text on a coloured background is black or white, whichever
contrasts more (:func:`text_color_on`). Stage names and labels are not defined here: they
live in :mod:`sim.biology.stages`.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from ..biology.anatomy import ORGANS

#: How each hypothesis is drawn: fill colour, bar hatch, point marker, matplotlib line style
#: and the same dash pattern as an SVG ``stroke-dasharray``.
HYPOTHESIS_STYLE: dict[str, dict[str, str]] = {
    "ewing": {"color": "#1f77b4", "hatch": "", "marker": "o", "linestyle": "-",
              "dasharray": ""},
    "paget": {"color": "#d62728", "hatch": "//", "marker": "s", "linestyle": "--",
              "dasharray": "6,3"},
    "combined": {"color": "#2ca02c", "hatch": "..", "marker": "^", "linestyle": "-.",
                 "dasharray": "2,2"},
    "null": {"color": "#7f7f7f", "hatch": "xx", "marker": "D", "linestyle": ":",
             "dasharray": "8,2,2,2"},
}


def hypothesis_style(hypothesis: str, index: int = 0) -> dict[str, str]:
    """The style of a hypothesis; a label without one gets matplotlib's ``index``-th cycle
    colour and plain solid bars, so two unknown labels still differ."""
    return HYPOTHESIS_STYLE.get(hypothesis, {"color": f"C{index % 10}", "hatch": "",
                                             "marker": "o", "linestyle": "-",
                                             "dasharray": ""})


#: The primary tumour's colour (a star on the body map, a line in the app's time course).
PRIMARY_COLOR = "#7b2cbf"
#: A cell with no value (hatched grey): not the pale centre of a diverging colour map.
MISSING_COLOR = "#bdbdbd"
#: Bars of a single series (one run's funnel, the animation's funnel).
SINGLE_SERIES_COLOR = "#555555"

#: The smallest text on any figure (points): readable from the back of a classroom.
MIN_FONTSIZE = 9.0
#: Legends, notes and numbers written on bars or cells.
SMALL_FONTSIZE = 9.0

#: Resolution of saved PNG files (dots per inch).
DPI = 120


def organ_label(organ: str) -> str:
    """An organ's short name on a figure: ``"bone (skeleton incl. red marrow)"`` ->
    ``"bone"``; a key that is not an organ is written in words."""
    if organ in ORGANS:
        return ORGANS[organ].label.split(" (")[0]
    return organ.replace("_", " ")


def legend(ax: Axes, **kwargs: Any) -> Legend:
    """A frameless legend in :data:`SMALL_FONTSIZE` (keyword arguments as ``ax.legend``)."""
    return ax.legend(**{"fontsize": SMALL_FONTSIZE, "frameon": False, **kwargs})


# ------------------------------------------------------------------ figures without pyplot

class ShownFigure(Figure):
    """A figure that a notebook shows when a cell ends with it.

    Jupyter shows a figure as a picture only when it knows how: for pyplot's figures the
    inline backend tells it, but that backend is not loaded for a figure made without pyplot
    (and not at all when ``MPLBACKEND`` is set, as on a server), so such a figure appeared
    as the text ``<Figure size 800x450 with 1 Axes>``. IPython asks any object for a
    ``_repr_png_`` method and shows the PNG it returns, whatever the backend. Where the
    inline backend is active its own formatter for figures is asked first, so a figure is
    never shown twice.
    """

    def _repr_png_(self) -> bytes:
        """The figure as PNG bytes, as the inline backend draws it (the figure's own dpi,
        trimmed to what is drawn)."""
        buffer = BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def new_figure(**kwargs: Any) -> Figure:
    """A figure drawn by the Agg renderer, whatever backend pyplot uses: attaching the
    canvas selects nothing globally. A notebook cell that ends with it shows it
    (:class:`ShownFigure`)."""
    fig = ShownFigure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
             **kwargs: Any) -> tuple[Figure, Any]:
    """Like ``pyplot.subplots`` without pyplot: a figure no GUI backend owns, so importing
    or calling metasim never changes the user's matplotlib backend (a notebook keeps its
    inline backend, a desktop its windows) and figures can be drawn from any thread."""
    fig = new_figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save(fig: Figure, path: Path) -> None:
    """Write ``fig`` as a PNG at :data:`DPI`, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")


def save_both(fig: Figure, stem: Path) -> list[Path]:
    """Write ``fig`` as ``stem.png`` (at :data:`DPI`) and ``stem.svg``; the paths written."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=DPI, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths


# ------------------------------------------------------------------ contrast

def relative_luminance(color: Any) -> float:
    """WCAG 2 relative luminance of a matplotlib colour."""
    c = np.array(to_rgb(color), dtype=float)
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])


def contrast_ratio(a: Any, b: Any) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21; text needs >= 4.5)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color_on(background: Any) -> str:
    """Black or white, whichever contrasts more with ``background``."""
    black, white = contrast_ratio("black", background), contrast_ratio("white", background)
    return "black" if black >= white else "white"
