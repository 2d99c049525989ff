"""The factorial trial's machinery: its integrals, its groups, its samplers.

Synthetic rows with known frequencies (no simulation), so every check is exact or has a
stated tolerance; the recovery of the generating model over many rows is in
tests/statistical/test_factorial_recovery.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from sim.experiments.factorial import (
    CELLS,
    Cell,
    CellFit,
    Row,
    binomial_loglik,
    check_rows,
    fit,
    fold_assignment,
    organ_predictive,
    row_evidence,
    trial,
)
from sim.experiments.soil_model import A_GRID


def _frequency(lam: np.ndarray, patients: np.ndarray) -> np.ndarray:
    """f_o(a) = mean over patients of 1 - exp(-lam_o * w_i * e^a) on A_GRID."""
    x = np.exp(A_GRID)[None, :, None] * lam[:, None, None] * patients[None, None, :]
    return -np.expm1(-x).mean(axis=-1)


def _row(name: str, counts, n: int = 200, group: str = "", lam=None, offsets=None,
         seed: int = 0) -> Row:
    rng = np.random.default_rng(seed)
    O = len(counts)
    lam = np.linspace(0.5, 3.0, O) if lam is None else np.asarray(lam)
    freq = {"anatomical": _frequency(lam, np.ones(1)),
            "uniform": _frequency(np.ones(O), rng.lognormal(0, 0.5, 50))}
    off = offsets if offsets is not None else {d: np.zeros((1, O)) for d in freq}
    return Row(name, [f"o{j}" for j in range(O)], np.asarray(counts), n, freq, off, -1.0, 0.8,
               group=group)


def _f(row: Row, o: int, a: float) -> float:
    """The exact anatomical frequency of organ o at a (identical patients, default lam)."""
    lam = np.linspace(0.5, 3.0, len(row.organs))[o]
    return -math.expm1(-lam * math.exp(a))


def test_likelihood_is_exact_between_grid_points_for_identical_patients():
    """For identical patients log(-log(1 - f)) is linear in a, so the interpolated
    likelihood equals the exact binomial at any a (a linear interpolation of f would be off
    by ~1e-3 in f: 0.1 nats on a 500-patient row). Catches interpolation in f or on the
    wrong grid."""
    row = _row("p", [30, 80, 120], n=500)
    a = -1.234567
    g = np.interp(a, A_GRID, row.cloglog("anatomical")[1])
    f_exact = -math.expm1(-1.75 * math.exp(a))      # lam of organ 1 is 1.75
    assert binomial_loglik(np.array(g), np.array(80), 500) == pytest.approx(
        stats.binom.logpmf(80, 500, f_exact), abs=1e-9)


def test_evidence_without_soil_terms_is_the_integral_over_the_level():
    """Ewing's cell with fixed inputs: log of the integral over c of the prior times the
    binomial likelihood of every organ at a = c, against adaptive quadrature (the fine grid
    and its refinement must agree to 1e-3 nats). Catches a wrong prior, a missing organ or
    a mis-weighted grid."""
    row = _row("p", [40, 75, 110, 150], n=300)
    ev, _ = row_evidence(row, CELLS[0], None, rng=np.random.default_rng(0))

    def integrand(c: float) -> float:
        ll = sum(stats.binom.logpmf(k, 300, _f(row, o, c))
                 for o, k in enumerate(row.counts))
        return math.exp(ll + stats.norm.logpdf(c, row.level_mean, row.level_sd) + 20)

    val, _ = integrate.quad(integrand, -4, 2, points=[-1.5, -1.0, -0.5], limit=200)
    assert ev == pytest.approx(math.log(val) - 20, abs=1e-3)


def test_evidence_with_seed_specific_scatter_integrates_each_organ():
    """With a fixed shared term s and tau, each organ's a is Normal(c + s_o, tau^2)
    independently given c: the evidence is the integral over c of the product of one-
    dimensional integrals. Checked by nested quadrature (to 2e-3 nats)."""
    row = _row("p", [20, 90, 60], n=150)
    s = np.array([0.3, -0.4, 0.1])
    tau = 0.6
    post = CellFit(CELLS[3], ["x"], list(row.organs), np.zeros((1, 1)), s[None, :],
                   np.array([tau]), np.zeros((1, 1), dtype=int))
    ev, _ = row_evidence(row, CELLS[3], post, draws=1, rng=np.random.default_rng(0))

    def organ(o: int, mu: float) -> float:
        return integrate.quad(lambda a: stats.binom.pmf(row.counts[o], 150,
                                                        _f(row, o, a))
                              * stats.norm.pdf(a, mu, tau), mu - 6 * tau, mu + 6 * tau,
                              limit=200)[0]

    def outer(c: float) -> float:
        return math.prod(organ(o, c + s[o]) for o in range(3)) * \
            stats.norm.pdf(c, row.level_mean, row.level_sd)

    val, _ = integrate.quad(outer, row.level_mean - 5 * row.level_sd,
                            row.level_mean + 5 * row.level_sd, limit=100)
    assert ev == pytest.approx(math.log(val), abs=2e-3)


def test_ewing_inputs_are_averaged_over_their_bank():
    """A bank of two equally likely deliveries: the evidence is the log of the mean of the
    two evidences with each delivery held fixed. Catches a bank that is maximised over or
    ignored."""
    counts = [40, 75, 110]
    bank = np.array([[0.0, 0.0, 0.0], [0.5, -0.3, 0.2]])
    both = _row("p", counts, offsets={"anatomical": bank, "uniform": np.zeros((1, 3))})
    one = [_row("p", counts, offsets={"anatomical": bank[i:i + 1], "uniform": np.zeros((1, 3))})
           for i in range(2)]
    rng = np.random.default_rng
    e = [row_evidence(r, CELLS[0], None, rng=rng(0))[0] for r in one]
    assert row_evidence(both, CELLS[0], None, rng=rng(0))[0] == pytest.approx(
        float(np.logaddexp(*e) - math.log(2)), abs=1e-9)


def test_colorectal_is_never_scored_beside_colon_or_rectum():
    """The colorectal row is colon plus rectum: scoring it beside either counts patients
    twice, and is refused."""
    rows = [_row(n, [10, 20, 30]) for n in ("colorectal", "colon", "breast")]
    with pytest.raises(ValueError, match="colon plus rectum"):
        check_rows(rows)


def test_rows_of_one_group_share_their_folds():
    """An organ hidden in colon is hidden in rectum too (their folds are dealt per group),
    while other primaries are dealt on their own."""
    rows = [_row("colon", [1] * 7, group="colorectum"), _row("rectum", [1] * 7, group="colorectum"),
            _row("lung", [1] * 7)]
    assign = fold_assignment(rows, 3, lambda g: np.random.default_rng(100 + g))
    assert np.array_equal(assign[0], assign[1])
    assert sorted(np.bincount(assign[0])) == [2, 2, 3]
    assert sorted(np.bincount(assign[2])) == [2, 2, 3]
    assert not np.array_equal(assign[0], assign[2])


def _world(rows_counts: dict[str, list[int]], groups: dict[str, str]) -> list[Row]:
    return [_row(n, c, group=groups.get(n, ""), lam=np.linspace(0.3 + i * 0.2, 3.0, len(c)))
            for i, (n, c) in enumerate(rows_counts.items())]


def test_colon_and_rectum_never_score_each_other():
    """Leave one out drops a whole group: colon's site evidence, under the cell with both
    soil terms, does not move when rectum's counts change (a leak from rectum would).
    Against a control: lung's counts do move colon's evidence (so the check can fail). The
    k-fold side is the shared folds (above)."""
    base = {"colon": [30, 50, 70, 90, 110], "rectum": [35, 55, 60, 95, 120],
            "lung": [60, 40, 80, 20, 100], "kidney": [25, 45, 65, 85, 105]}
    groups = {"colon": "colorectum", "rectum": "colorectum"}
    cell = [Cell("anatomical", True, True)]

    def colon_evidence(counts: dict[str, list[int]]) -> float:
        rep = trial(_world(counts, groups), lambda *k: 7 + sum(k), cells=cell, folds=0,
                    draws=80, burn=40)
        return rep["evidence"][cell[0].name]["colon"]

    e0 = colon_evidence(base)
    assert colon_evidence({**base, "rectum": [5, 150, 10, 140, 3]}) == e0
    assert colon_evidence({**base, "lung": [5, 150, 10, 140, 3]}) != e0


@pytest.mark.parametrize("cell", [Cell("anatomical", True, False), Cell("anatomical", True, True)],
                         ids=lambda c: c.name)
def test_shared_term_is_learnt(cell):
    """Rows sharing a strong organ pattern: the fit's shared term recovers it (up to the
    common shift the data cannot tell from the levels) within 0.15 log units, with and
    without seed-specific scatter (two samplers). Catches a shared term that is not updated,
    or updated with the wrong sign."""
    rng = np.random.default_rng(3)
    pattern = np.array([1.2, -0.8, 0.3, -0.7, 0.0])
    rows = []
    for p in range(6):
        lam = np.linspace(0.5, 2.5, 5)
        c = -1.0 + rng.normal(0, 0.3)
        f = -np.expm1(-lam * np.exp(c + pattern))
        rows.append(_row(f"p{p}", rng.binomial(2000, f), n=2000, lam=lam))
    post = fit(rows, cell, np.random.default_rng(1), draws=200, burn=100)
    est = post.soil.mean(axis=0)
    assert np.allclose(est - est.mean(), pattern - pattern.mean(), atol=0.15)


def test_predictive_of_a_held_out_organ_is_a_distribution_around_the_fit():
    """The k-fold predictive of a hidden count sums to 1 and its mean is within 2 binomial
    SDs of what the generating frequency gives."""
    lam = np.linspace(0.5, 2.5, 5)
    rows = [_row(f"p{p}", np.round(300 * -np.expm1(-lam * math.exp(-1.0))).astype(int),
                 n=300, lam=lam) for p in range(3)]
    held = [np.array([False, False, True, False, False]), None, None]
    post = fit(rows, CELLS[0], np.random.default_rng(2), draws=100, burn=50, held=held)
    pred = organ_predictive(0, "o2", rows, post)
    f = -math.expm1(-lam[2] * math.exp(-1.0))
    mean = float((np.arange(301) * pred).sum())
    assert pred.sum() == pytest.approx(1.0, abs=1e-9)
    assert abs(mean - 300 * f) < 2 * math.sqrt(300 * f * (1 - f))


@pytest.mark.parametrize("cell", [CELLS[0], CELLS[3]], ids=lambda c: c.name)
def test_a_hidden_count_never_enters_the_fit(cell):
    """The k-fold fit with an organ hidden gives the same draws whatever that organ's count
    is (same stream): a hidden count that leaked into the likelihood would move them."""
    rows = [_row(f"p{p}", [30 + p, 60, 90, 120], n=200) for p in range(3)]
    other = [_row("p0", [30, 60, 199, 120], n=200), *rows[1:]]
    held = [np.array([False, False, True, False]), None, None]
    a = fit(rows, cell, np.random.default_rng(4), draws=40, burn=20, held=held)
    b = fit(other, cell, np.random.default_rng(4), draws=40, burn=20, held=held)
    assert np.array_equal(a.level, b.level) and np.array_equal(a.soil, b.soil)
    c = fit(other, cell, np.random.default_rng(4), draws=40, burn=20)
    assert not np.array_equal(a.level, c.level)


@pytest.mark.parametrize("cell", [Cell("anatomical", True, False), Cell("anatomical", True, True)],
                         ids=lambda c: c.name)
def test_an_organ_no_row_speaks_for_keeps_its_prior(cell):
    """An organ hidden in every row: its shared term follows its prior Normal(0, 2^2). The
    SD of 300 draws lies within 1.5-2.6 (a flat conditional, the prior forgotten, gives ~5.8
    on the grid's +-10; the SD's sampling error here is ~0.15, so a false failure needs a
    >3 SE deviation)."""
    rows = [_row(f"p{p}", [30 + p, 60, 90, 120], n=200) for p in range(3)]
    held = [np.array([False, False, False, True])] * 3
    post = fit(rows, cell, np.random.default_rng(5), draws=300, burn=100, held=held)
    assert 1.5 < post.soil[:, 3].std() < 2.6


def _bank_posterior(row: Row) -> np.ndarray:
    """Exact posterior over a row's bank (no soil terms): the integral over the level of
    prior x likelihood for each draw, by quadrature."""
    bank = row.offsets["anatomical"]
    out = []
    for e in bank:
        def integrand(c: float, e: np.ndarray = e) -> float:
            ll = sum(stats.binom.logpmf(k, row.patients, _f(row, o, c + e[o]))
                     for o, k in enumerate(row.counts))
            return math.exp(ll + stats.norm.logpdf(c, row.level_mean, row.level_sd) + 30)
        out.append(integrate.quad(integrand, -4, 3, limit=200, points=[-1.0])[0])
    w = np.array(out)
    return w / w.sum()


@pytest.mark.parametrize("cell", [CELLS[0], CELLS[1]], ids=lambda c: c.name)
def test_ewing_inputs_mix_over_their_bank(cell):
    """Draws of a bank whose entries shift every organ together (as the first-pass arrest
    does) plus a little each: the sampler visits them in the proportions of the exact
    posterior (no soil terms: by quadrature; with scatter: each draw's evidence, tau from its
    prior). A sampler that draws the bank only given the level (pinned by the organs)
    sticks to its first draw. Tolerance: 0.12 on each share, ~4 SE of 600 autocorrelated
    draws."""
    rng = np.random.default_rng(11)
    shift = np.array([0.0, 0.4, -0.3, 0.2, -0.5, 0.1])
    bank = shift[:, None] + rng.normal(0, 0.05, (6, 5))
    bank[0] = 0.0
    lam = np.linspace(0.5, 3.0, 5)
    counts = rng.binomial(300, -np.expm1(-lam * math.exp(-1.0 + 0.2)))
    row = _row("p", counts, n=300, offsets={"anatomical": bank, "uniform": np.zeros((1, 5))})
    post = fit([row], cell, np.random.default_rng(3), draws=600, burn=200)
    seen = np.bincount(post.bank[:, 0], minlength=6) / len(post.bank)
    exact = _bank_posterior(row) if not cell.scatter else _bank_posterior_scatter(row)
    assert np.allclose(seen, exact, atol=0.12), (seen, exact)


def _bank_posterior_scatter(row: Row) -> np.ndarray:
    """Exact posterior over the bank with seed-specific scatter and no shared term: each
    draw's evidence with tau from its prior (the sampler's own discrete half-Cauchy on its
    grid, 600 draws) and the level and deviations integrated by row_evidence."""
    from sim.experiments.soil_model import TAU_GRID, TAU_PRIOR_SCALE

    w = np.gradient(TAU_GRID) / (1 + (TAU_GRID / TAU_PRIOR_SCALE) ** 2)
    taus = np.random.default_rng(0).choice(TAU_GRID, size=600, p=w / w.sum())
    prior = CellFit(CELLS[1], ["x"], list(row.organs), np.zeros((600, 1)),
                    np.zeros((600, len(row.organs))), taus, np.zeros((600, 1), dtype=int))
    bank = row.offsets["anatomical"]
    ev = [row_evidence(Row(row.primary, row.organs, row.counts, row.patients, row.frequency,
                           {"anatomical": bank[i:i + 1], "uniform": row.offsets["uniform"]},
                           row.level_mean, row.level_sd), CELLS[1], prior, draws=600,
                       rng=np.random.default_rng(1))[0] for i in range(len(bank))]
    w = np.exp(np.array(ev) - max(ev))
    return w / w.sum()


def test_tau_without_data_follows_its_half_cauchy_prior():
    """Every organ hidden: tau's draws follow half-Cauchy(0, 1), median 1 (600 independent
    grid draws: the median's SE is ~0.08). A grid draw that forgot the log grid's cell
    widths would put its median near 0.1."""
    rows = [_row(f"p{p}", [30, 60, 90], n=200) for p in range(2)]
    held = [np.ones(3, dtype=bool)] * 2
    post = fit(rows, CELLS[3], np.random.default_rng(6), draws=600, burn=50, held=held)
    assert 0.75 < float(np.median(post.tau)) < 1.33
