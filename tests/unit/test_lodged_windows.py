"""The lodged cells' windows (:mod:`sim.engine.lodged_windows`) against their daily steps.

Each test runs the compiled kernel on identical inputs: the same cells in the same places
with the same hazards and the same arrivals, once in one window of ``k`` steps and once one
step at a time (the daily reference, which draws what the Mesa model draws), and compares
the two distributions. The tolerances come from the variance of the compared quantities;
each docstring says the false-failure rate and the smallest difference caught.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.engine import lodged_windows as lw

# Two places of one organ and one of another: (ext, died, stayed), (died, dormant,
# proliferated, stayed), (died, woke, stayed). Proliferation and waking are far more
# likely than in a real patient, so that the rare exits are tested with few draws.
PA = np.array([[0.5, 0.05, 0.45], [0.5, 0.05, 0.45], [0.3, 0.1, 0.6]])
PS = np.array([[0.3, 0.25, 0.02, 0.43], [0.3, 0.25, 0.05, 0.40], [0.4, 0.2, 0.01, 0.39]])
PD = np.array([[0.01, 0.004, 0.986], [0.01, 0.01, 0.98], [0.02, 0.002, 0.978]])
ROW_ORGAN = np.array([0, 0, 1])
UNIT_CELLS = np.array([1, 5, 1])
K = 12


def _run(window: int, reps: int, seed: int, kill: float = 0.0, capacity: int = -1):
    """``reps`` independent patients, all alike, through ``K`` steps; per patient: the
    lodged units per stage and place, the ledger, the founders and their mean step."""
    rng = np.random.default_rng(seed)
    n, R = reps, len(ROW_ORGAN)
    lodged = np.zeros((3, n, R), dtype=np.int64)
    lodged[0] = [40, 8, 25]
    lodged[1] = [30, 5, 0]
    lodged[2] = [60, 20, 10]
    pend = np.zeros((n, K + 2, R))
    pend[:, :K + 1] = np.linspace(5.0, 15.0, K + 1)[:, None] * np.array([1.0, 0.3, 0.7])
    ledger = np.zeros((n, lw.LEDGER_COLUMNS), dtype=np.int64)
    by_organ = np.zeros((n, 2), dtype=np.int64)
    kills = np.full((n, 3), kill)
    founders = lw.advance(rng, np.arange(n), np.full(n, K - 1), lodged,
                          np.full(n, -1, dtype=np.int64), pend, np.broadcast_to(PA, (n, R, 3)).copy(),
                          np.broadcast_to(PS, (n, R, 4)).copy(), np.broadcast_to(PD, (n, R, 3)).copy(),
                          kills, UNIT_CELLS, ROW_ORGAN, 2, capacity, window, ledger, by_organ,
                          np.zeros((0, 1, 1, 2)), 1.0, 1.0)
    found = np.zeros((n, 2))
    steps = np.zeros(n)
    for p, _, step, origin in founders:
        found[p, origin] += 1
        steps[p] += step
    return {"lodged": lodged.transpose(1, 0, 2).reshape(n, -1), "ledger": ledger,
            "by_organ": by_organ, "founders": found, "founder_steps": steps[:, None]}


def test_the_k_step_tables_are_the_powers_of_the_one_step_matrix():
    """``k_step_tables`` against ``numpy.linalg.matrix_power`` of the full 8 x 8 chain
    (absorbing states kept): deterministic, to rounding. A table that skipped the kill, an
    absorbing state that did not accumulate, or an off-by-one in the power fails."""
    M = lw.one_step_matrix(PA[0], PS[0], PD[0], np.array([0.1, 0.2, 0.05]))
    full = np.zeros((8, 8))
    full[:3] = M
    full[3:, 3:] = np.eye(5)
    assert np.allclose(M.sum(axis=1), 1.0)
    P = lw.k_step_tables(M, 20)
    for j in (0, 1, 2, 7, 20):
        assert np.allclose(P[j], np.linalg.matrix_power(full, j)[:3], atol=1e-13), j


@pytest.mark.parametrize("good,bad,sample", [(7, 12, 5), (300, 5000, 800),
                                             (40000, 2_000_000, 30000)])
def test_the_hypergeometric_draw_has_its_law(good, bad, sample):
    """The compiled hypergeometric draw (the niche's) against scipy's law: chi-square over
    the outcomes with expected count >= 5 (pooled tails), 20,000 draws. A false failure
    at p < 1e-4: 1 in 10,000 runs (fixed seed, so it either always passes or never)."""
    rng = np.random.default_rng(17)
    x = np.array([lw.hypergeometric(rng, good, bad, sample) for _ in range(20000)])
    law = stats.hypergeom(good + bad, good, sample)
    lo, hi = int(law.ppf(0.0005)), int(law.ppf(0.9995))
    edges = np.arange(lo, hi + 2)
    observed = np.histogram(np.clip(x, lo, hi), bins=edges)[0]
    expected = np.diff(np.concatenate([[0.0], law.cdf(np.arange(lo, hi)), [1.0]])) * len(x)
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    obs, exp = obs[exp > 0], exp[exp > 0]
    p = stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue
    assert p > 1e-4, p


@pytest.mark.parametrize("kill", [0.0, 0.15])
def test_one_window_of_k_steps_draws_what_k_daily_steps_draw(kill):
    """The same patients through 12 steps, in one window and step by step (with and without
    a systemic therapy's kill): every lodged count, ledger column, founder count and the
    founders' mean step agree in mean (Welch t-test) and variance (Levene), and the lodged
    counts and ledger in law (two-sample KS), Holm-corrected over all tests at 0.001.
    4,000 patients a side: a false failure in under 1 run in 1,000; a mean shift of 0.11
    standard deviations (e.g. 1.6 % of the cells lost while solitary) is caught with 80 %
    power. A window that used the (k-1)-step table, forgot the arrivals of the last step,
    or counted a death at arrest as solitary fails by far more."""
    a, b = _run(K, 4000, 1, kill), _run(1, 4000, 2, kill)
    pvalues = []
    for key in a:
        for col in range(a[key].shape[1]):
            x, y = a[key][:, col].astype(float), b[key][:, col].astype(float)
            if x.std() == 0 and y.std() == 0:
                assert x[0] == y[0], (key, col)
                continue
            pvalues.append(stats.ttest_ind(x, y, equal_var=False).pvalue)
            pvalues.append(stats.levene(x, y).pvalue)
            if key in ("lodged", "ledger"):
                pvalues.append(stats.ks_2samp(x, y).pvalue)
    p = np.sort(pvalues)
    holm = np.maximum.accumulate(p * (len(p) - np.arange(len(p))))
    assert holm.min() > 1e-3, (holm.min(), len(p))
    assert a["founders"].sum() > 500 and a["ledger"][:, lw.LOST_ARREST].sum() > 0


def test_a_full_niche_refuses_cells_one_step_at_a_time():
    """With room for few dormant units the organ fills: the window falls back to steps of
    one (its bound says the organ could fill), so both ways draw the niche's refusals and
    agree in mean (Welch t, Holm at 0.001 over the dormant counts and the ledger; 2,000
    patients a side), and no organ ever holds more dormant units than its room."""
    a, b = _run(K, 2000, 3, capacity=120), _run(1, 2000, 4, capacity=120)
    dormant = a["lodged"].reshape(-1, 3, 3)[:, 2]
    assert (dormant[:, :2].sum(axis=1) <= 120).all() and (dormant[:, 2] <= 120).all()
    assert (dormant[:, :2].sum(axis=1) == 120).mean() > 0.5      # it did fill
    pvalues = [stats.ttest_ind(a[k][:, c], b[k][:, c], equal_var=False).pvalue
               for k in ("lodged", "ledger") for c in range(a[k].shape[1])
               if a[k][:, c].std() > 0 or b[k][:, c].std() > 0]
    p = np.sort(pvalues)
    assert (p * (len(p) - np.arange(len(p)))).min() > 1e-3


@pytest.mark.parametrize("window", [K, 1])
def test_units_arrested_after_the_state_was_drawn_are_drawn_in_the_same_step(window):
    """A patient brought up to its diagnosis step before that step's arrivals lodge has them
    in ``pend[:, 0]``; a later look in the same step (the marrow sample, a record, the twin's
    copy) brings it up again with nothing to step. Those units must then be drawn (Poisson,
    mean 50 per place: 2,000 patients, the mean within 5 standard errors, a false failure
    below 1e-6), written to the ledger as arrested, and taken off the waiting means. An
    engine that skipped the row because there was no step left lost them (the marrow's
    arrested cells at diagnosis were 64 % too few)."""
    rng = np.random.default_rng(8)
    n, R = 2000, len(ROW_ORGAN)
    lodged = np.zeros((3, n, R), dtype=np.int64)
    pend = np.zeros((n, K + 2, R))
    pend[:, 0] = 50.0
    ledger = np.zeros((n, lw.LEDGER_COLUMNS), dtype=np.int64)
    lazy = np.full(n, 4, dtype=np.int64)
    lw.advance(rng, np.arange(n), np.full(n, 4), lodged, lazy, pend,
               np.broadcast_to(PA, (n, R, 3)).copy(), np.broadcast_to(PS, (n, R, 4)).copy(),
               np.broadcast_to(PD, (n, R, 3)).copy(), np.zeros((n, 3)), UNIT_CELLS, ROW_ORGAN,
               2, -1, window, ledger, np.zeros((n, 2), dtype=np.int64),
               np.zeros((0, 1, 1, 2)), 1.0, 1.0)
    arrested = lodged[0].astype(float)
    assert abs(arrested.mean() - 50.0) < 5 * np.sqrt(50.0 / arrested.size)
    assert (lodged[1:] == 0).all() and (pend == 0).all() and (lazy == 4).all()
    assert (ledger[:, lw.ARRESTED_CELLS] == lodged[0] @ UNIT_CELLS).all()
