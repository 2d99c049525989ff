"""The figures of sim/viz/figures.py and sim/viz/sweep_figures.py, read from their drawn state
(texts, bars, bands, pixels), not from the code that made them. Each test says what it
proves; the readability checker they use is in test_viz_readability.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer

from sim import analysis
from sim.analysis import clinical_outcomes, intervals
from sim.analysis.summaries import kaplan_meier
from sim.biology.anatomy import PRIMARY_SITES
from sim.biology.reference import DISIBIO_2008
from sim.biology.stages import STAGE_LABELS
from sim.config.loading import load_scenario
from sim.experiments.replicates import run_replicates
from sim.experiments.validation import relative_weiss_index
from sim.viz import figures as plots
from sim.viz import sweep_figures as sweep_plots
from tests.unit.test_viz_readability import drawn_texts, small_texts, text_problems

YEAR = 365.25
HALF_LIFE = "circulation.ctc_half_life_hours"
HALF_LIVES = (0.25, 0.5, 1.0, 1.7, 2.4, 4.0, 8.0)


def _contrast(a, b) -> float:
    """WCAG 2 contrast ratio, computed here independently of sim.viz.figures."""
    def lum(c):
        c = np.array(to_rgb(c))
        c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _patient(relapse_years: float | None, followed_years: float, resected: float = 100.0):
    """What clinical_outcomes reads of a resected patient."""
    return SimpleNamespace(
        resection_day=resected, days=resected + followed_years * YEAR,
        relapse_day=None if relapse_years is None else resected + relapse_years * YEAR,
        diagnosis={"day": resected, "colonies": 0})


# ------------------------------------------------------------------ clinical outcomes

def test_metastasis_free_survival_holds_survival_with_a_non_degenerate_interval():
    """``clinical.metastasis_free_survival`` holds S(t), the probability of staying free of
    detectable metastases (20 of 21 at 5 years here), not 1 - S(t); nothing is left under
    the old name ``metastasis_free_risk``. At 1 year, before any relapse, the interval is
    the exact binomial one for the 21 patients followed that long, [0.025^(1/21), 1]:
    it contains the estimate 1 and is not the degenerate [1, 1] (reported as risk [0, 0]
    before). Past the longest follow-up nothing is claimed."""
    c = clinical_outcomes([_patient(None, 6.0) for _ in range(20)] + [_patient(3.0, 6.0)])
    assert "metastasis_free_risk" not in c
    mfs = c["metastasis_free_survival"]
    assert set(mfs) == {"1y", "2y", "5y", "10y"}
    one = mfs["1y"]
    assert one["survival"] == 1.0 and one["followed_that_long"] == 21
    assert one["low"] == pytest.approx(0.025 ** (1 / 21))
    assert one["low"] < one["survival"] <= one["high"] == 1.0
    five = mfs["5y"]
    assert five["survival"] == pytest.approx(20 / 21)
    assert 0.5 < five["low"] < five["survival"] < five["high"] <= 1.0
    assert mfs["10y"]["survival"] is None and mfs["10y"]["followed_that_long"] == 0
    before_first_relapse = np.array(c["km_timeline_days"]) < 3.0 * YEAR
    assert np.all(np.array(c["km_low"])[before_first_relapse] < 1.0)


# ------------------------------------------------------------------ Kaplan-Meier

def test_km_histogram_separates_relapses_from_censored_patients_and_counts_them():
    """One patient relapsed at 4.8 years and 19 were followed to 14 years without a relapse:
    the lower panel shows one relapse bar (height 1, at 4.8 years) and a separate censored
    bar (19, at 14 years), on a labelled patient-count axis. Before, the histogram mixed
    censoring times with relapses (a 'relapse' bar at 14 years) and had no y axis."""
    c = clinical_outcomes([_patient(4.8, 4.8 + 9.2)] + [_patient(None, 14.0)
                                                         for _ in range(19)])
    fig = plots.km_figure(c, "After resection (test)")
    lower = fig.axes[1]
    groups = {b.get_label().split(":")[0]: b for b in lower.containers}
    assert set(groups) >= {"relapse", "censored"}

    def spans(bars):
        return [(p.get_x(), p.get_x() + p.get_width(), p.get_height()) for p in bars]

    relapse, censored = spans(groups["relapse"]), spans(groups["censored"])
    assert sum(h for *_, h in relapse) == 1
    assert all(a <= 4.8 < b for a, b, _ in relapse)
    assert sum(h for *_, h in censored) == 19
    assert all(a <= 14.0 < b for a, b, _ in censored)
    assert lower.get_ylabel() == "patients"
    assert [t for t in lower.get_yticklabels() if t.get_text()]
    assert text_problems(fig) == []


# ------------------------------------------------------------------ sweep responses

def _sweep_frame() -> pd.DataFrame:
    """8 patients per point; counts mostly 0 (a t interval dips below 0 there)."""
    rows = []
    for scen in ("breast", "colon"):
        for h in ("ewing", "combined"):
            for k, v in enumerate(HALF_LIVES):
                for r in range(8):
                    rows.append({"scenario": scen, "hypothesis": h, "status": "ok",
                                 f"param:{HALF_LIFE}": v,
                                 "metastatic_sites": int(r < k // 2) * (1 + r % 2),
                                 "macrometastases": int(r == 0 and k > 2),
                                 "detectable_metastases": int(r == 0 and k > 3),
                                 "died": bool(r < k // 3)})
    return pd.DataFrame(rows)


def _band_limits(fig):
    ys = [p.vertices[:, 1] for ax in fig.axes for coll in ax.collections
          for p in coll.get_paths()]
    return min(y.min() for y in ys), max(y.max() for y in ys)


@pytest.mark.parametrize("output", ["metastatic_sites", "macrometastases",
                                    "detectable_metastases"])
def test_response_bands_of_counts_never_go_below_zero(output):
    """Counts per patient cannot be negative, nor can the interval of their mean: the
    bootstrap band's low edge is >= 0 at every point (the t interval went to -0.17 for
    seven zeros and a one)."""
    fig = sweep_plots.response_figure(_sweep_frame(), HALF_LIFE, output)
    low, _ = _band_limits(fig)
    assert low >= 0.0
    m, lo, hi = intervals.count_mean_interval(np.array([0, 0, 0, 0, 0, 0, 0, 1.0]))
    assert 0.0 <= lo < m < hi
    assert intervals.count_mean_interval(np.zeros(8)) == pytest.approx((0.0, 0.0, 3.689 / 8),
                                                                  rel=1e-3)


def test_response_band_of_a_fraction_stays_between_zero_and_one():
    """A share of patients gets a Wilson interval, inside [0, 1]."""
    fig = sweep_plots.response_figure(_sweep_frame(), HALF_LIFE, "died")
    low, high = _band_limits(fig)
    assert 0.0 <= low and high <= 1.0


@pytest.mark.parametrize("output", list(sweep_plots.RESPONSE_OUTPUTS))
def test_response_figure_has_plain_labels_and_no_overlapping_log_ticks(output):
    """The half-life axis is logarithmic (0.25-8 h): its tick labels are plain numbers that
    do not overlap (before, minor labels such as 3x10^-1 and 4x10^-1 ran into each other),
    and axes and title speak words with units, not scenario keys."""
    fig = sweep_plots.response_figure(_sweep_frame(), HALF_LIFE, output)
    assert text_problems(fig) == []
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel().startswith("half-life of tumour cells in the blood (hours")
    labels = [t.get_text() for t in drawn_texts(fig)]
    assert not [t for t in labels if HALF_LIFE in t or output in t]
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "0.25" in shown and "8" in shown and all("times" not in t for t in shown)


def _agreeing_frame() -> pd.DataFrame:
    """Two scenarios, ewing and combined giving the same patients: most die at short
    half-lives (data in the upper left corner, where the old legend stood), few at long."""
    rows = []
    for scen in ("breast", "colon"):
        for h in ("ewing", "combined"):
            for k, v in enumerate(HALF_LIVES):
                for r in range(8):
                    rows.append({"scenario": scen, "hypothesis": h, "status": "ok",
                                 f"param:{HALF_LIFE}": v, "died": r < 8 - k,
                                 "metastatic_sites": int(r < 8 - k)})
    return pd.DataFrame(rows)


def _data_points(ax) -> np.ndarray:
    """Display coordinates of every point the panel draws: line vertices and band edges."""
    pts = [np.column_stack(line.get_data()).astype(float) for line in ax.lines]
    pts += [p.vertices for c in ax.collections for p in c.get_paths()]
    xy = np.concatenate(pts)
    return ax.transData.transform(xy[np.isfinite(xy).all(axis=1)])


@pytest.mark.parametrize("output", ["died", "metastatic_sites"])
def test_response_legend_stands_off_the_data(output):
    """No point of any line or band lies under the legend, and the legend is outside every
    panel. Before, each panel had its legend in the upper left corner, on the points of the
    short half-lives where most patients die."""
    fig = sweep_plots.response_figure(_agreeing_frame(), HALF_LIFE, output)
    fig.canvas.draw()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    assert legends
    for lg in legends:
        box = lg.get_window_extent()
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent()), ax.get_title()
            inside = [box.contains(x, y) for x, y in _data_points(ax)]
            assert not any(inside), ax.get_title()
    assert text_problems(fig) == [] and small_texts(fig) == []


def test_response_hypotheses_that_agree_stay_distinguishable():
    """Ewing and combined give the same value at every point: their lines differ in marker
    and line style, their points are drawn apart (at least 3 pixels sideways at every
    point, so neither hides the other), and the figure says that lines overlap where
    hypotheses agree. Before, the combined line covered the ewing line exactly."""
    fig = sweep_plots.response_figure(_agreeing_frame(), HALF_LIFE, "died")
    fig.canvas.draw()
    for ax in fig.axes:
        lines = {line.get_label(): line for line in ax.lines if len(line.get_xdata()) > 2}
        ewing, combined = (next(v for k, v in lines.items() if k.lower().startswith(h))
                           for h in ("ewing", "combined"))
        assert ewing.get_marker() != combined.get_marker()
        assert ewing.get_linestyle() != combined.get_linestyle()
        assert np.allclose(ewing.get_ydata(), combined.get_ydata())
        xe, xc = (ax.transData.transform(np.column_stack(line.get_data()).astype(float))[:, 0]
                  for line in (ewing, combined))
        assert np.all(np.abs(xe - xc) >= 3.0), (xe, xc)
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "overlap where hypotheses agree" in notes


def test_response_figure_of_one_scenario_keeps_its_title_inside():
    """A sweep of one scenario gives a figure one panel wide; its three-part title is
    broken into lines that fit (the one-line tail ran past both edges)."""
    one = _agreeing_frame()
    fig = sweep_plots.response_figure(one[one["scenario"] == "breast"], HALF_LIFE,
                                      "metastatic_sites")
    assert text_problems(fig) == [] and small_texts(fig) == []


def test_unknown_keys_get_a_readable_label():
    """A parameter without a hand-written label is written in words with its unit taken
    from the key's suffix; an output without one is shown as it is."""
    assert (sweep_plots.parameter_label("colonization.micrometastasis_birth_rate_per_day")
            == "colonization: micrometastasis birth rate (per day)")
    assert sweep_plots.output_label("site:bone") == "site:bone"
    assert sweep_plots.readable_key("primary.initial_diameter_mm") == (
        "primary: initial diameter (mm)")


# ------------------------------------------------------------------ time course

@pytest.fixture(scope="module")
def small_run():
    return run_replicates(load_scenario("tests/data/small.toml"), 3, 1, progress=False)


def test_time_course_explains_its_bands_and_labels_every_panel(small_run):
    """Each panel has a title and a y label, the size panels say they are on a log scale,
    and the figure says what the line and the band are (median; 10th-90th percentile of
    patients) and how patients who died count."""
    fig = plots.timecourse_figure(small_run.patients, "Time course (test)")
    assert all(ax.get_ylabel() and ax.get_title() for ax in fig.axes)
    primary = next(ax for ax in fig.axes if ax.get_title() == "primary tumour")
    assert "log scale" in primary.get_ylabel()
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "median" in notes and "10th to 90th percentile of patients" in notes
    assert "died" in notes and "day of death" in notes
    assert text_problems(fig) == [] and small_texts(fig) == []


def _course(days: float, died: bool, primary_doubling: float, liver_from: float | None,
            lung_from: float | None = None, every: float = 10.0, start: float = 1e8):
    """A synthetic patient recorded every ``every`` days up to ``days`` (and on that day):
    a primary doubling every ``primary_doubling`` days, one liver colony from
    ``liver_from`` (None: never), one lung colony from ``lung_from``."""
    series = []
    record_days = sorted({*np.arange(0.0, days, every), days})
    for d in record_days:
        series.append((d, "primary_cells", "", start * 2 ** (d / primary_doubling)))
        series.append((d, "ctc_entered_per_day", "", 1e3 * 2 ** (d / primary_doubling)))
        if liver_from is not None and d >= liver_from:
            series.append((d, "colonies_by_organ", "liver", 1.0))
        if lung_from is not None and d >= lung_from:
            series.append((d, "colonies_by_organ", "lung", 2.0))
    return SimpleNamespace(days=days, died=died, resection_day=None, timeseries=series)


#: Four patients followed 100 days; the one with the largest primary dies on day 45. Two have
#: a liver colony from day 20, two none, so the median patient has 0 and the next 1.
COHORT = [_course(100.0, False, 20.0, None), _course(100.0, False, 15.0, 20.0, 30.0),
          _course(100.0, False, 12.0, None), _course(45.0, True, 8.0, 20.0, 40.0)]


def _median_line(fig, words: str):
    """The median line of a quantity (found by its panel's title or its legend label: the
    old figure drew colonies of all organs in one panel, labelled by organ)."""
    for ax in fig.axes:
        for line in ax.lines:
            if len(line.get_xdata()) > 2 and (words in ax.get_title()
                                              or line.get_label().startswith(words)):
                return line
    raise AssertionError(f"no line for {words!r}")


def test_time_course_median_does_not_drop_when_a_patient_dies():
    """Every primary grows, so the median primary never shrinks; the patient with the
    largest primary dies on day 45. Before, the dead left the median, which dropped (from
    the mean of the middle two of four to the middle of three). Now they count with their
    value on the day of death, and the figure says so."""
    fig = plots.timecourse_figure(COHORT)
    for quantity in ("primary tumour", "entering the blood"):
        y = np.asarray(_median_line(fig, quantity).get_ydata(), dtype=float)
        y = y[np.isfinite(y)]
        assert len(y) > 5 and np.all(np.diff(y) >= -1e-9 * y[:-1]), (quantity, y)


def test_time_course_counts_stay_whole_and_the_dead_are_shown():
    """Two patients with one liver colony and two with none: the median patient has 0 or 1
    colonies, never the 0.5 a mean of the middle two gave, and the band's edges are whole
    numbers too (0 and 1: the band spans the patients). The alive panel steps from 4 to 3
    on day 45. No panel holds more than one band (the old colony panel stacked one
    translucent band per organ)."""
    fig = plots.timecourse_figure(COHORT)
    liver = np.asarray(_median_line(fig, "liver").get_ydata(), dtype=float)
    assert set(np.unique(liver)) <= {0.0, 1.0}
    for ax in fig.axes:
        assert len(ax.collections) <= 1, ax.get_title()
        if "liver" in ax.get_title():
            edges = np.concatenate([p.vertices[:, 1] for p in ax.collections[0].get_paths()])
            assert set(np.unique(edges)) == {0.0, 1.0}
    alive = next(line for ax in fig.axes for line in ax.lines if line.get_gid() == "alive")
    x, y = (np.asarray(v, dtype=float) for v in alive.get_data())
    assert y[0] == 4 and y[-1] == 3 and x[list(y).index(3)] == pytest.approx(45.0)
    assert text_problems(fig) == [] and small_texts(fig) == []


# ------------------------------------------------------------------ Weiss heat map

def _pixel(rgba: np.ndarray, ax, x: float, y: float) -> np.ndarray:
    """Mean colour of a 5 x 5 pixel patch around data point (x, y)."""
    px, py = ax.transData.transform((x, y))
    row = rgba.shape[0] - round(py)
    col = round(px)
    return rgba[row - 2:row + 3, col - 2:col + 3, :3].reshape(-1, 3).mean(axis=0) / 255.0


def test_weiss_heatmap_numbers_contrast_and_missing_cells_are_marked():
    """Every number contrasts with its cell by at least 4.5 : 1 (WCAG AA; before, black on
    dark red, 2.9 : 1); cells without a value (organs the autopsy table does not list for
    that primary) are not white like the values near 1 were, differ from the colour of 1,
    and a legend says 'not in the autopsy table'."""
    indices = {p: relative_weiss_index(load_scenario(p)) for p in ("breast", "colon", "prostate")}
    fig = plots.weiss_heatmap_figure(indices)
    ax = fig.axes[0]
    im = ax.images[0]
    values = im.get_array()
    cells = [t for t in ax.texts if t.get_text()]
    assert len(cells) == int(np.isfinite(np.ma.filled(values, np.nan)).sum())
    for t in cells:
        j, i = (round(v) for v in t.get_position())
        ratio = _contrast(t.get_color(), im.to_rgba(values[i, j]))
        assert ratio >= 4.5, (t.get_text(), ratio)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    organs = sorted({o for v in indices.values() for o in v})
    missing = [(i, j) for i, p in enumerate(indices) for j, o in enumerate(organs)
               if o not in indices[p]]
    assert missing
    i, j = missing[0]
    gap = _pixel(rgba, ax, j - 0.3, i - 0.3)
    near_one = min(((abs(np.log(v)), (r, c)) for r, p in enumerate(indices)
                    for c, o in enumerate(organs) if (v := indices[p].get(o))))[1]
    one = _pixel(rgba, ax, near_one[1] - 0.3, near_one[0] - 0.3)
    assert np.abs(gap - 1.0).max() > 0.1, gap               # not white
    assert np.abs(gap - one).max() > 0.1, (gap, one)        # not the colour of 1
    legend = [t.get_text() for lg in [*fig.legends, ax.get_legend()] if lg
              for t in lg.get_texts()]
    assert "not in the autopsy table" in legend
    assert text_problems(fig) == []


# ------------------------------------------------------------------ every other figure

def _synthetic_sweep_rows() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    observed = DISIBIO_2008.frequencies(str(PRIMARY_SITES["breast"].disibio_row))
    rows = []
    for h in ("ewing", "combined"):
        for _ in range(6):
            row: dict[str, object] = {"scenario": "breast", "hypothesis": h, "status": "ok",
                                      "point": 0}
            row.update({f"reached:{s}": rng.lognormal(10, 1) for s in STAGE_LABELS})
            row.update({f"site:{o}": rng.random() < f for o, f in observed.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def test_every_figure_has_readable_text(small_run):
    """Every standard figure keeps every text inside the figure, apart from other text
    (long organ names used to run off the bottom edge) and at least MIN_FONTSIZE points
    (legends were 7-8 pt)."""
    observed = DISIBIO_2008.frequencies(PRIMARY_SITES["breast"].disibio_row)
    rows = [{"hypothesis": h, "primary": p, "r2": 0.5, "spearman": 0.6,
             "sites": {o: {"observed": f, "simulated": f, "low": 0.0, "high": 1.0}
                       for o, f in DISIBIO_2008.frequencies(
                           PRIMARY_SITES[p].disibio_row).items()}}
            for h in ("ewing", "paget", "combined") for p in ("breast", "colon", "lung")]
    df = _synthetic_sweep_rows()
    frequencies, patients = sweep_plots.site_frequencies(df, "breast")
    clinical = clinical_outcomes([_patient(4.8, 9.0)] + [_patient(None, 14.0)] * 9)
    indices = {p: relative_weiss_index(load_scenario(p)) for p in ("breast", "colon")}
    figures = {
        "funnel": plots.funnel_figure(analysis.funnel(small_run.patients), "Cascade (test)"),
        "sites": plots.site_frequency_figure(
            {"combined": analysis.site_frequency(small_run.patients)}, observed, "Sites"),
        "observed_vs_simulated": plots.observed_vs_simulated_figure(rows),
        "sweep_sites": plots.site_frequency_figure(frequencies, observed, "Sites by hypothesis",
                                                   patients=patients),
        "sweep_funnel": sweep_plots.funnel_by_hypothesis_figure(df, "breast"),
        "time_course": plots.timecourse_figure(small_run.patients, "Time course (test)"),
        "km": plots.km_figure(clinical, "After resection (test)"),
        "weiss": plots.weiss_heatmap_figure(indices),
        "response": sweep_plots.response_figure(_sweep_frame(), HALF_LIFE, "died"),
    }
    for name, fig in figures.items():
        assert text_problems(fig) == [], name
        assert small_texts(fig) == [], name


def test_the_run_and_the_sweep_draw_the_same_site_frequencies():
    """One site-frequency figure for both callers: the same 12 patients, summarised by the
    run (sim.analysis.site_frequency) and by the sweep table (site_frequencies), give the
    same fractions and intervals, hence the same bars and whiskers; the sweep adds the
    number of patients to the legend. Organs no patient has and the autopsy table does not
    report are left out; the rest stand most frequent first."""
    organs = ("liver", "lung", "bone", "brain")
    has = {"liver": 9, "lung": 4, "bone": 1, "brain": 0}
    patients = [SimpleNamespace(autopsy_by_organ={o: 1 for o in organs if i < has[o]},
                                detectable_by_organ={}) for i in range(12)]
    run = analysis.site_frequency(patients, organs)
    df = pd.DataFrame([{"scenario": "s", "hypothesis": "paget", "status": "ok",
                        **{f"site:{o}": bool(p.autopsy_by_organ.get(o)) for o in organs}}
                       for p in patients])
    sweep, counts = sweep_plots.site_frequencies(df, "s")
    assert counts == {"paget": 12}
    for o in organs:
        assert sweep["paget"][o] == pytest.approx(
            {k: run[o][k] for k in ("fraction", "low", "high")})

    def bars(fig):
        ax = fig.axes[0]
        bar = next(c for c in ax.containers if isinstance(c, BarContainer))
        whiskers = bar.errorbar.lines[2][0].get_segments()
        return ([t.get_text() for t in ax.get_xticklabels()],
                [p.get_height() for p in bar.patches],
                [(s[0][1], s[1][1]) for s in whiskers], ax.get_legend().get_texts())

    names_run, heights_run, ci_run, _ = bars(plots.site_frequency_figure({"paget": run}))
    names_sw, heights_sw, ci_sw, legend = bars(plots.site_frequency_figure(
        sweep, patients=counts))
    assert names_run == names_sw == ["liver", "lung", "bone"]
    assert heights_run == pytest.approx(heights_sw)
    assert heights_sw == pytest.approx([9 / 12, 4 / 12, 1 / 12])
    assert np.allclose(ci_run, ci_sw)
    assert [t.get_text() for t in legend] == ["paget (n = 12)"]


def test_survival_band_does_not_collapse_at_the_last_censoring():
    """With every patient censored, the band's lower edge fell to 0 at
    the last time point (nobody followed beyond it); it now keeps the previous interval.
    (It tests sim.analysis, not a figure: it belongs with the analysis tests.) Five patients
    followed 100 to 900 days after their resection, none relapsing: the situation is built,
    not left to a seed (a run of 5 simulated patients may or may not have a relapse)."""
    durations = np.array([100.0, 300.0, 500.0, 700.0, 900.0])
    timeline, surv, low, _ = kaplan_meier(durations, np.zeros(5, dtype=bool))
    assert timeline[-1] == 900.0 and np.all(surv == 1.0)
    assert low[-1] == low[-2] > 0


@pytest.mark.parametrize("method", ["sobol", "morris"])
def test_sensitivity_figure_is_readable(method):
    """The sensitivity bar chart (one bar per parameter, its interval) has no overlapping,
    cut-off or too-small text for either method, and its axis names the index."""
    params = ["colonization.proliferation_rate_per_day", "primary.doubling_time_days",
              "circulation.ctc_half_life_hours"]
    g = pd.DataFrame({"parameter": params, "S1": [0.5, 0.2, 0.1], "S1_conf": [0.05] * 3,
                      "ST": [0.6, 0.3, 0.1], "ST_conf": [0.05] * 3,
                      "mu_star": [3.0, 1.0, 0.2], "mu_star_conf": [0.3] * 3})
    fig = sweep_plots.sensitivity_figure(g, method, "breast / combined: sensitivity of died")
    assert text_problems(fig) == [] and small_texts(fig) == []
    assert ("Sobol" if method == "sobol" else "Morris") in fig.axes[0].get_xlabel()
