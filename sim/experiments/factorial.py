"""A fair trial of where cancers spread: delivery x shared organ soil x seed-specific soil.

Paget (1889) and Ewing (1928) make different claims, and a comparison that lets one of them
absorb what the other leaves unexplained decides nothing. This module scores eight models of
the autopsy rows, every one by the same machinery and with the same priors on what they share.
For primary ``p`` and organ ``o`` the colonisation hazards of the cells the anatomy (or the
uniform circulation) delivers are multiplied by ``exp(a_po)`` with

    a_po = c_p + e_po(theta_p) [+ s_o] [+ delta_po],      delta_po ~ Normal(0, tau^2),

* ``c_p``: the primary's level (log competence), its prior shared by every cell;
* ``e_po(theta_p)``: how the delivery to organ ``o`` changes when Ewing's own uncertain
  inputs ``theta_p`` (the split between blood, lymph, cavity and contiguous spread, the
  venous drainage including Batson's vertebral share, the first capillary bed's arrest)
  move from the values in the scenario: ``log(D_o(theta) / D_o(theta_0))`` with ``D`` the
  cells arrested per organ (:func:`sim.biology.delivery.delivered_fractions`). Each primary
  carries a bank of draws from their prior; they are inferred like every other term. (To
  first order, as the site emulator's soil is: cells shed by metastases keep the drainage
  of the organ they grew in.)
* ``s_o``: an organ term **shared by every primary** (prior Normal(0, 2^2)). It absorbs
  whatever makes an organ a common site whatever the primary: autopsy ascertainment, blood
  flow per gram of organ (which the anatomy's delivery leaves out), the organ's general
  hospitality. It is *not* Paget's claim;
* ``delta_po``: the **seed-specific** deviation (half-Cauchy(0, 1) prior on ``tau``):
  Paget's claim proper, that a given seed prefers a given soil.

The factors: delivery (anatomical / uniform) x shared organ term (none / shared) x
seed-specific scatter (none / tau), eight cells. Ewing's hypothesis is ``anatomical`` with
neither soil term; the combined view (Weiss 1992) is ``anatomical + organ + seed``.

Scores, identical for every cell:

* **Leave one primary (group) out**: each primary's whole row predicted from the others'
  fit (what they say of ``s`` and ``tau``), its own ``c`` and ``theta`` from their priors.
  Its log predictive density is the primary's *site evidence* for the cell, and with equal
  prior probabilities the cells' posterior probabilities for that primary. Summed over
  primaries it is the cross-validated score of the cell over the whole table.
* **k-fold over organs**: each primary's organs dealt into folds, each fold of every
  primary hidden at once, every hidden count predicted from the rest; log predictive density
  per organ, 90 % coverage, Spearman's rho and R^2.

The colorectal row of the autopsy table is exactly its colon and rectum rows added together
(560 = 123 + 437 patients, and every organ's count), so it is never scored beside them: they
would predict each other and count the same patients twice. Colon and rectum themselves are
different patients; they are put in one *group*, left out together and dealt the same folds
(a cautious choice: two sites of one organ, tabulated together elsewhere, neither predicts
the other). The likelihood of an organ's count is binomial given ``a``, through
the site emulator's frequency ``f_po(a)`` (:mod:`sim.experiments.emulator`), which is
interpolated in ``log(-log(1 - f))``, exactly linear in ``a`` for a cohort of identical
patients, so the sharp likelihoods of 500-patient rows are evaluated off the grid without
bias.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special, stats

from .soil_model import A_GRID, SOIL_PRIOR_SD, TAU_GRID, TAU_PRIOR_SCALE
from .validation import agreement

DELIVERIES = ("anatomical", "uniform")
#: The trial of the bundled presets (``metasim factorial``), which ``metasim validate``
#: prints and copies into its folder.
BUNDLED_TRIAL = Path(__file__).with_name("presets_factorial.json")

#: The fine grid of a on which the seed-specific deviations are sampled and integrated: a
#: row of 500 autopsies pins one organ's a to ~0.1 (log units), so the grid of the
#: hierarchical soil (step 0.1) is too coarse to integrate over it.
FINE_GRID = np.arange(-30.0, 2.0 + 1e-9, 0.02)
FINE_STEP = 0.02
#: Grid of the shared organ term when it is drawn without seed-specific scatter.
S_GRID = np.arange(-10.0, 10.0 + 1e-9, 0.1)
#: Proposals per iteration of the joint move of Ewing's inputs and the level (no scatter).
BANK_PROPOSALS = 4
_A0, _STEP = float(A_GRID[0]), float(A_GRID[1] - A_GRID[0])


@dataclass(frozen=True)
class Cell:
    """One model of the factorial."""

    delivery: str
    shared: bool
    scatter: bool

    @property
    def name(self) -> str:
        return self.delivery + ("+organ" if self.shared else "") + ("+seed" if self.scatter else "")

    @property
    def label(self) -> str:
        parts = [f"{self.delivery} delivery"]
        parts.append("organ term shared by all primaries" if self.shared else "no organ term")
        parts.append("seed-specific soil" if self.scatter else "no seed-specific soil")
        return ", ".join(parts)


CELLS: tuple[Cell, ...] = tuple(Cell(d, sh, sc) for d in DELIVERIES
                                for sh in (False, True) for sc in (False, True))


@dataclass
class Row:
    """One primary's autopsy row, what each delivery makes of it, and its priors."""

    primary: str
    organs: list[str]
    counts: np.ndarray
    patients: int
    #: delivery -> (organs, A_GRID) site frequency f_o(a) from the site emulator.
    frequency: dict[str, np.ndarray]
    #: delivery -> (draws, organs): log(D_o(theta) / D_o(theta_0)) for draws of Ewing's
    #: uncertain inputs from their prior (one row of zeros: the inputs held fixed).
    offsets: dict[str, np.ndarray]
    level_mean: float
    level_sd: float
    #: Rows of one group are left out together and share their folds.
    group: str = ""

    def __post_init__(self) -> None:
        self.group = self.group or self.primary

    @property
    def scored(self) -> np.ndarray:
        """Organs scored: those every delivery's cohort can reach (the ovaries of a cohort
        of men cannot be; an organ scored under one delivery only would give the cells
        different data)."""
        return np.logical_and.reduce([f[:, -1] > 0 for f in self.frequency.values()])

    def cloglog(self, delivery: str) -> np.ndarray:
        """log(-log(1 - f)) on A_GRID (linear in a for identical patients)."""
        f = np.clip(self.frequency[delivery], 1e-300, 1 - 1e-16)
        return np.log(-np.log1p(-f))


def _interp(table: np.ndarray, x: np.ndarray, grid: np.ndarray = A_GRID) -> np.ndarray:
    """table[..., G] on ``grid`` (evenly spaced), linearly interpolated at x (clamped to the
    grid); the leading dimensions of ``table`` broadcast against ``x``."""
    g0, step, n = float(grid[0]), float(grid[1] - grid[0]), len(grid)
    pos = np.clip((x - g0) / step, 0.0, n - 1 - 1e-9)
    i = pos.astype(np.int64)
    w = pos - i
    shape = np.broadcast_shapes(table.shape[:-1], x.shape)
    t = np.broadcast_to(table, shape + table.shape[-1:])
    lo = np.take_along_axis(t, i[..., None], -1)[..., 0]
    hi = np.take_along_axis(t, np.minimum(i + 1, n - 1)[..., None], -1)[..., 0]
    return lo + w * (hi - lo)


def _refined(coarse: np.ndarray, center: np.ndarray, cells: int = 10
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at which to evaluate a sharp density: the ``2 cells + 1`` coarse cells around
    each ``center`` (a point of ``coarse``) split into five fine cells each, the coarse
    grid elsewhere; the cells tile the line without overlap. Returns (points, log cell
    widths, widths), each (len(center), K); a sum of exp(log density + log width) is the
    integral."""
    c_step = float(coarse[1] - coarse[0])
    f_step = c_step / 5
    n_fine = 5 * (2 * cells + 1)
    fine = (np.arange(n_fine) + 0.5) * f_step - (cells + 0.5) * c_step
    R = len(center)
    pts = np.concatenate([center[:, None] + fine[None, :],
                          np.broadcast_to(coarse, (R, len(coarse)))], axis=1)
    k_center = np.rint((center - coarse[0]) / c_step)
    outside = np.abs(np.arange(len(coarse))[None, :] - k_center[:, None]) > cells
    width = np.concatenate([np.full((R, n_fine), f_step),
                            np.where(outside, c_step, 0.0)], axis=1)
    with np.errstate(divide="ignore"):
        return pts, np.log(width), width


def binomial_loglik(g: np.ndarray, k: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """log Binomial(k; n, f) with f = 1 - exp(-exp(g)), k broadcast against g."""
    log_h = np.exp(g)                                     # -log(1 - f)
    log_f = np.log(-np.expm1(-np.maximum(log_h, 1e-300)))
    return (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
            + k * log_f - (n - k) * log_h)


class _Stack:
    """The rows of one fit, padded to the union of their organs."""

    def __init__(self, rows: Sequence[Row], delivery: str,
                 held: Sequence[np.ndarray | None] | None = None):
        self.rows = list(rows)
        self.organs = sorted({o for r in rows for o in r.organs})
        col = {o: j for j, o in enumerate(self.organs)}
        P, O, G = len(rows), len(self.organs), len(A_GRID)
        M = max(len(r.offsets[delivery]) for r in rows)
        self.g = np.full((P, O, G), -700.0)
        self.k = np.zeros((P, O))
        self.n = np.array([r.patients for r in rows], dtype=float)
        self.mask = np.zeros((P, O), dtype=bool)
        self.offsets = np.zeros((P, M, O))
        self.bank = np.array([len(r.offsets[delivery]) for r in rows])
        for p, r in enumerate(rows):
            hidden = np.zeros(len(r.organs), dtype=bool) if held is None or held[p] is None \
                else np.asarray(held[p])
            g = r.cloglog(delivery)
            off = r.offsets[delivery]
            for i, o in enumerate(r.organs):
                j = col[o]
                self.g[p, j] = g[i]
                self.k[p, j] = r.counts[i]
                self.mask[p, j] = bool(r.scored[i]) and not hidden[i]
                # A shorter bank is repeated: every draw of it equally likely still.
                self.offsets[p, :, j] = np.resize(off[:, i], M)
        self.m_c = np.array([r.level_mean for r in rows])
        self.v_c = np.array([r.level_sd for r in rows]) ** 2

    def loglik_on_fine(self) -> np.ndarray:
        """(P, O, FINE_GRID) log-likelihood of each count (0 where not scored)."""
        g = _interp(self.g[:, :, None, :], np.broadcast_to(FINE_GRID, self.g.shape[:2]
                                                            + FINE_GRID.shape))
        ll = binomial_loglik(g, self.k[..., None], self.n[:, None, None])
        return np.where(self.mask[..., None], ll, 0.0)


@dataclass
class CellFit:
    """Posterior draws of one cell fitted to some rows."""

    cell: Cell
    primaries: list[str]
    organs: list[str]
    level: np.ndarray          # (draws, P)
    soil: np.ndarray           # (draws, O): zeros without a shared term
    tau: np.ndarray            # (draws,): zeros without seed-specific scatter
    bank: np.ndarray           # (draws, P): index of Ewing's inputs draw
    extra: dict = field(default_factory=dict)


def _draw(logdens: np.ndarray, pts: np.ndarray, logw: np.ndarray, width: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """One draw per row from the density exp(logdens) given at ``pts`` with cell widths
    ``width`` (log ``logw``), uniform within the chosen cell."""
    lw = logdens + logw
    w = np.exp(lw - lw.max(axis=-1, keepdims=True))
    cdf = np.cumsum(w, axis=-1)
    u = rng.random(len(w))
    idx = np.minimum((cdf < u[:, None] * cdf[:, -1:]).sum(axis=-1), w.shape[-1] - 1)
    rows = np.arange(len(w))
    return pts[rows, idx] + (rng.random(len(w)) - 0.5) * width[rows, idx]


def _conditional(score: Callable[[np.ndarray], np.ndarray], coarse: np.ndarray, rows: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Draw each of ``rows`` independent scalars from exp(score(x)) (score: (rows, K) points
    -> (rows, K) log density): located on the coarse grid, resolved on a fine one near the
    mode."""
    first = score(np.broadcast_to(coarse, (rows, len(coarse))))
    center = coarse[np.argmax(first, axis=1)]
    pts, logw, width = _refined(coarse, center)
    return _draw(score(pts), pts, logw, width, rng)


def _collapsed_bank(a: np.ndarray, s: np.ndarray, st: _Stack, tau: float) -> np.ndarray:
    """(P, M) log p(bank draw m | a, s, tau) with the level c integrated over its normal
    prior: the residuals r = a - s - e_m of a row are Normal(c, tau^2) given c, so up to a
    constant, -SS_m / (2 tau^2) - (mean_m - m_c)^2 / (2 (v_c + tau^2 / n))."""
    mask = st.mask[:, None, :]
    n = np.maximum(st.mask.sum(axis=1), 1)[:, None]
    r = a[:, None, :] - s[None, None, :] - st.offsets                    # (P, M, O)
    mean = np.where(mask, r, 0.0).sum(axis=-1) / n
    ss = np.where(mask, (r - mean[..., None]) ** 2, 0.0).sum(axis=-1)
    lw = -ss / (2 * tau ** 2) - (mean - st.m_c[:, None]) ** 2 / (2 * (st.v_c[:, None] + tau ** 2 / n))
    M = st.offsets.shape[1]
    return np.where(np.arange(M)[None, :] < st.bank[:, None], lw, -np.inf)


def _joint_bank_moves(c: np.ndarray, m: np.ndarray, s: np.ndarray, st: _Stack,
                      ll_fine: np.ndarray, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Metropolis moves of (bank draw, level) together: a new draw m' uniform over the bank
    and the level shifted by the mean change of its offsets over the scored organs (an
    involution with unit Jacobian, so the acceptance ratio is the posterior ratio). Without
    it a draw that moves every organ together could never be taken, the level being pinned
    by the other organs."""
    P = len(c)
    rows = np.arange(P)
    n = np.maximum(st.mask.sum(axis=1), 1)
    mean_off = np.where(st.mask[:, None, :], st.offsets, 0.0).sum(axis=-1) / n[:, None]

    def logpost(c_: np.ndarray, m_: np.ndarray) -> np.ndarray:
        a_ = c_[:, None] + st.offsets[rows, m_] + s[None, :]
        ll = _interp(ll_fine, a_, FINE_GRID)
        return (np.where(st.mask, ll, 0.0).sum(axis=1)
                - (c_ - st.m_c) ** 2 / (2 * st.v_c))

    current = logpost(c, m)
    for _ in range(BANK_PROPOSALS):
        m_new = (rng.random(P) * st.bank).astype(np.int64)
        c_new = c + mean_off[rows, m] - mean_off[rows, m_new]
        proposed = logpost(c_new, m_new)
        take = np.log(rng.random(P)) < proposed - current
        c, m = np.where(take, c_new, c), np.where(take, m_new, m)
        current = np.where(take, proposed, current)
    return c, m


def fit(rows: Sequence[Row], cell: Cell, rng: np.random.Generator, *, draws: int = 600,
        burn: int = 300, held: Sequence[np.ndarray | None] | None = None) -> CellFit:
    """Gibbs sampling of one cell's posterior given ``rows`` (``held[p]``: organs of row p
    whose counts are hidden).

    Without seed-specific scatter a_po = c_p + e_po + s_o exactly, and c, s and the bank
    index are drawn from their full conditionals, evaluated on a coarse grid and resolved on
    a fine one near the mode; with it, a is drawn on :data:`FINE_GRID` and c, s from their
    normal full conditionals, tau on its grid. With a shared organ term, c and s also move
    together along the direction that leaves every a unchanged (c - k, s + k; an exact Gibbs
    step on k), which the data cannot resolve and a one-at-a-time sampler would cross only
    slowly."""
    st = _Stack(rows, cell.delivery, held)
    P, O = st.mask.shape
    M = st.offsets.shape[1]
    ll_fine = st.loglik_on_fine()                                       # (P, O, F)
    c = st.m_c.copy()
    s = np.zeros(O)
    m = np.zeros(P, dtype=np.int64)
    tau = 1.0 if cell.scatter else 0.0
    v_s = SOIL_PRIOR_SD ** 2
    n_p, n_o = st.mask.sum(axis=1), st.mask.sum(axis=0)
    tau_logprior = np.log(2 / (np.pi * TAU_PRIOR_SCALE * (1 + (TAU_GRID / TAU_PRIOR_SCALE) ** 2)))
    log_dtau = np.log(np.gradient(TAU_GRID))
    fine_w = np.full((P * O, len(FINE_GRID)), FINE_STEP)
    fine_pts = np.broadcast_to(FINE_GRID, fine_w.shape)
    log_fine_w = np.log(fine_w)
    a = np.zeros((P, O))
    keep: dict[str, list] = {"c": [], "s": [], "t": [], "m": []}
    rows_p = np.arange(P)
    for it in range(burn + draws):
        e = st.offsets[rows_p, m]                                      # (P, O)
        if cell.scatter:
            mu = c[:, None] + e + s[None, :]
            logd = ll_fine - (FINE_GRID - mu[..., None]) ** 2 / (2 * tau ** 2)
            a_new = _draw(logd.reshape(P * O, -1), fine_pts, log_fine_w, fine_w,
                          rng).reshape(P, O)
            a = np.where(st.mask, a_new, mu)
            if M > 1:
                # Ewing's inputs with the level integrated out: the first-pass arrest moves
                # every systemic organ together, which a draw given the level (pinned to
                # ~0.03 by 20 organs) could never follow.
                m = _bank_draw(_collapsed_bank(a, s, st, tau), rng)
                e = st.offsets[rows_p, m]
            resid = np.where(st.mask, a - s[None, :] - e, 0.0)
            prec = 1 / st.v_c + n_p / tau ** 2
            c = (st.m_c / st.v_c + resid.sum(axis=1) / tau ** 2) / prec \
                + rng.standard_normal(P) / np.sqrt(prec)
            if cell.shared:
                resid = np.where(st.mask, a - c[:, None] - e, 0.0)
                prec = 1 / v_s + n_o / tau ** 2
                s = (resid.sum(axis=0) / tau ** 2) / prec + rng.standard_normal(O) / np.sqrt(prec)
            dev = np.where(st.mask, a - c[:, None] - e - s[None, :], 0.0)
            ss, n = float((dev ** 2).sum()), int(st.mask.sum())
            lw = tau_logprior + log_dtau - n * np.log(TAU_GRID) - ss / (2 * TAU_GRID ** 2)
            w = np.exp(lw - lw.max())
            tau = float(TAU_GRID[min(int(np.searchsorted(np.cumsum(w), rng.random() * w.sum())),
                                     len(TAU_GRID) - 1)])
        else:
            def c_score(x: np.ndarray, e: np.ndarray = e, s: np.ndarray = s) -> np.ndarray:
                # x: (P, K) levels -> (P, K) log full conditional of c_p.
                a_ = x[:, :, None] + e[:, None, :] + s[None, None, :]
                ll = _interp(ll_fine[:, None, :, :], a_, FINE_GRID)
                return (np.where(st.mask[:, None, :], ll, 0.0).sum(axis=-1)
                        - (x - st.m_c[:, None]) ** 2 / (2 * st.v_c[:, None]))
            c = _conditional(c_score, A_GRID, P, rng)
            if cell.shared:
                def s_score(x: np.ndarray, e: np.ndarray = e, c: np.ndarray = c) -> np.ndarray:
                    # x: (O, K) organ terms -> (O, K) log full conditional of s_o.
                    a_ = c[:, None, None] + e[:, :, None] + x[None, :, :]      # (P, O, K)
                    ll = _interp(ll_fine[:, :, None, :], a_, FINE_GRID)
                    return (np.where(st.mask[:, :, None], ll, 0.0).sum(axis=0)
                            - x ** 2 / (2 * v_s))
                s = _conditional(s_score, S_GRID, O, rng)
            a = c[:, None] + e + s[None, :]
            if M > 1:
                x = c[:, None, None] + st.offsets + s[None, None, :]            # (P, M, O)
                ll = _interp(ll_fine[:, None, :, :], x, FINE_GRID)
                lm = np.where(st.mask[:, None, :], ll, 0.0).sum(axis=-1)
                m = _bank_draw(np.where(np.arange(M)[None, :] < st.bank[:, None], lm, -np.inf),
                               rng)
                c, m = _joint_bank_moves(c, m, s, st, ll_fine, rng)
                a = c[:, None] + st.offsets[rows_p, m] + s[None, :]
        if cell.shared:
            # c - k, s + k: every a unchanged, so only the priors speak (a normal in k).
            prec = float((1 / st.v_c).sum() + O / v_s)
            mean = float((((c - st.m_c) / st.v_c).sum() - (s / v_s).sum()) / prec)
            k = mean + rng.standard_normal() / math.sqrt(prec)
            c, s = c - k, s + k
        if it >= burn:
            keep["c"].append(c.copy())
            keep["s"].append(s.copy())
            keep["t"].append(tau)
            keep["m"].append(m.copy())
    return CellFit(cell, [r.primary for r in rows], st.organs, np.array(keep["c"]),
                   np.array(keep["s"]), np.array(keep["t"]), np.array(keep["m"]))


def _bank_draw(logw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    cdf = np.cumsum(w, axis=1)
    return np.minimum((cdf < rng.random(len(w))[:, None] * cdf[:, -1:]).sum(axis=1),
                      w.shape[1] - 1)


# --------------------------------------------------------------------------------------
# Predictive densities
# --------------------------------------------------------------------------------------

def _smoothed_loglik(ll: np.ndarray, tau: float) -> np.ndarray:
    """log of the integral of exp(ll(a)) N(a; mu, tau^2) da, as a function of mu on
    FINE_GRID, per organ (ll: (O, F) on FINE_GRID). Computed in log space, so exact far into
    the tails, where an organ's data lie many tau from the mean (a kernel cut off there, or
    a sum of exp(ll), would give nothing): the sum over a runs over the points within 200
    nats of the organ's best (the rest weigh < e^-200 anywhere), on a grid of mu of step
    min(0.04, tau / 8) but at least 0.01, interpolated to FINE_GRID (error < 1e-3 nats an
    organ for tau >= 0.08, the smallest tau any fit has given being ~0.5)."""
    if tau <= 0:
        return ll
    step = max(min(0.04, tau / 8), 0.01)
    mu = np.arange(FINE_GRID[0], FINE_GRID[-1] + step / 2, step)
    out = np.empty((len(ll), len(FINE_GRID)))
    norm = math.log(FINE_STEP / (tau * math.sqrt(2 * math.pi)))
    for o, row in enumerate(ll):
        near = row > row.max() - 200.0
        a, v = FINE_GRID[near], row[near]
        sm = np.empty(len(mu))
        for j in range(0, len(mu), 256):
            k = -(a[None, :] - mu[j:j + 256, None]) ** 2 / (2 * tau ** 2)
            sm[j:j + 256] = special.logsumexp(v[None, :] + k, axis=-1)
        out[o] = np.interp(FINE_GRID, mu, sm + norm)
    return out


def row_evidence(row: Row, cell: Cell, others: CellFit | None, *, draws: int = 256,
                 rng: np.random.Generator) -> tuple[float, float]:
    """log p(row's counts | cell, the other rows): the primary's level and Ewing's inputs
    from their priors, the shared term and tau from ``others`` (posterior draws; None: the
    cell learns nothing from other rows). Returns (log evidence, its Monte Carlo standard
    error from four batches of the draws)."""
    st = _Stack([row], cell.delivery)
    keep = st.mask[0]
    organs = [o for o, ok in zip(st.organs, keep, strict=True) if ok]
    ll_fine = st.loglik_on_fine()[0, keep]                              # (O, F)
    offsets = st.offsets[0][: st.bank[0]][:, keep]                      # (M, O)
    g_kept, k_kept = st.g[0, keep], st.k[0, keep]
    M = len(offsets)
    if others is None or not (cell.shared or cell.scatter):
        soils, taus = np.zeros((1, len(organs))), np.zeros(1)
    else:
        pick = rng.choice(len(others.tau), size=min(draws, len(others.tau)), replace=False)
        col = {o: j for j, o in enumerate(others.organs)}
        # An organ no other row has: its shared term from its prior.
        soils = np.array([[others.soil[i, col[o]] if o in col
                           else rng.normal(0.0, SOIL_PRIOR_SD) * cell.shared for o in organs]
                          for i in pick])
        taus = others.tau[pick]
    coarse = A_GRID[np.abs(A_GRID - row.level_mean) <= 6 * row.level_sd + 0.5]
    cache: dict[float, np.ndarray] = {}
    out = []
    for s_, tau in zip(soils, taus, strict=True):
        key = float(tau)
        if key not in cache:
            cache[key] = _smoothed_loglik(ll_fine, key)
        sm = cache[key]

        def score(x: np.ndarray, s_: np.ndarray = s_, sm: np.ndarray = sm,
                  exact: bool = key == 0.0) -> np.ndarray:
            # x: (M, K) levels -> (M, K) log p(counts | c, inputs m, s) + log prior(c).
            a_ = x[:, :, None] + offsets[:, None, :] + s_[None, None, :]
            if exact:   # no scatter: the binomial at a itself, not interpolated in ll
                v = binomial_loglik(_interp(g_kept[None, None, :, :], a_), k_kept,
                                    row.patients).sum(axis=-1)
            else:
                v = _interp(sm[None, None, :, :], a_, FINE_GRID).sum(axis=-1)
            return v + stats.norm.logpdf(x, row.level_mean, row.level_sd)

        first = score(np.broadcast_to(coarse, (M, len(coarse))))
        pts, logw, _ = _refined(coarse, coarse[np.argmax(first, axis=1)])
        out.append(special.logsumexp(score(pts) + logw) - math.log(M))
    out_a = np.array(out)
    ev = float(special.logsumexp(out_a) - math.log(len(out_a)))
    se = 0.0
    if len(out_a) >= 8:
        batches = [special.logsumexp(b) - math.log(len(b)) for b in np.array_split(out_a, 4)]
        se = float(np.std(batches, ddof=1) / 2)
    return ev, se


def organ_predictive(row_index: int, organ: str, rows: Sequence[Row], post: CellFit
                     ) -> np.ndarray:
    """Predictive distribution (0..n) of one organ's count of row ``row_index`` under the
    posterior draws of a fit in which it was hidden."""
    row = rows[row_index]
    i = row.organs.index(organ)
    j = post.organs.index(organ)
    g = row.cloglog(post.cell.delivery)[i]
    off = row.offsets[post.cell.delivery][:, i]
    mu = post.level[:, row_index] + off[post.bank[:, row_index] % len(off)] + post.soil[:, j]
    if post.cell.scatter:
        # a ~ Normal(mu, tau^2) per draw, on a grid of +-5 tau.
        z = np.linspace(-5, 5, 81)
        a = mu[:, None] + post.tau[:, None] * z[None, :]
        wz = np.broadcast_to(stats.norm.pdf(z), a.shape)
    else:
        a, wz = mu[:, None], np.ones((len(mu), 1))
    return _binomial_mixture(_interp(g, a).ravel(), wz.ravel(), row.patients)


def _binomial_mixture(g: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    """pmf on 0..n of the mixture of Binomial(n, 1 - exp(-exp(g_i))) with weights w_i; the
    g are pooled within 0.005 (a 0.5 % change in the hazard) before the pmf is evaluated."""
    key = np.round(g / 0.005)
    uniq, inv = np.unique(key, return_inverse=True)
    w = np.bincount(inv, weights=weight)
    k = np.arange(n + 1)
    ll = binomial_loglik(uniq[:, None] * 0.005, k[None, :], n)
    pmf = (np.exp(ll) * (w / w.sum())[:, None]).sum(axis=0)
    return pmf


def _scores(pred: np.ndarray, observed: int) -> dict[str, float]:
    n = len(pred) - 1
    cdf = np.cumsum(pred) / pred.sum()
    lo, hi = int(np.searchsorted(cdf, 0.05)), int(np.searchsorted(cdf, 0.95))
    return {"lpd": float(np.log(max(pred[observed], 1e-300))),
            "covered": float(lo <= observed <= hi), "mean": float((np.arange(n + 1) * pred).sum() / n)}


# --------------------------------------------------------------------------------------
# The trial
# --------------------------------------------------------------------------------------

def check_rows(rows: Sequence[Row]) -> None:
    """Refuse rows that count the same patients twice outside one group (the colorectal row
    beside colon or rectum)."""
    names = {r.primary for r in rows}
    if "colorectal" in names and names & {"colon", "rectum"}:
        raise ValueError("the colorectal autopsy row is colon plus rectum: score either it or "
                         "them, never both")


def _groups(rows: Sequence[Row]) -> list[list[int]]:
    out: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        out.setdefault(r.group, []).append(i)
    return list(out.values())


def fold_assignment(rows: Sequence[Row], folds: int, rng_for: Callable[[int], np.random.Generator]
                    ) -> list[np.ndarray]:
    """Each row's organs dealt into ``folds``; rows of one group deal each organ into the
    same fold (an organ hidden in colon is hidden in rectum too)."""
    out: list[np.ndarray | None] = [None] * len(rows)
    for gi, members in enumerate(_groups(rows)):
        organs = sorted({o for i in members for o in rows[i].organs})
        deal = dict(zip(organs, rng_for(gi).permutation(len(organs)) % folds, strict=True))
        for i in members:
            out[i] = np.array([deal[o] for o in rows[i].organs])
    return [x for x in out if x is not None]


def trial(rows: Sequence[Row], seed_for: Callable[..., int], *, cells: Sequence[Cell] = CELLS,
          folds: int = 5, draws: int = 600, burn: int = 300, evidence_draws: int = 256,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score every cell on ``rows`` (leave one group out, and k-fold over organs).

    ``seed_for(*key)``: the integer seed of the stream named by ``key`` (a calibration
    seed); ``folds`` = 0 skips the k-fold scores. Returns the report: per cell and primary
    the leave-one-out evidence with its Monte Carlo error and the k-fold scores; per primary
    the cells' posterior probabilities; the pooled scores; and the factors' marginal
    probabilities."""
    check_rows(rows)
    rows = list(rows)
    say = progress or (lambda _m: None)
    groups = _groups(rows)
    report: dict[str, Any] = {"cells": {c.name: c.label for c in cells}, "evidence": {},
                              "evidence_se": {}, "kfold": {}, "tau": {}}
    assign = fold_assignment(rows, folds, lambda g: np.random.default_rng(seed_for(20, g))) \
        if folds else []
    for ci, cell in enumerate(cells):
        say(f"{cell.name}: leave one primary out")
        ev, se = {}, {}
        for gi, members in enumerate(groups):
            others = [r for i, r in enumerate(rows) if i not in members]
            post = None
            if (cell.shared or cell.scatter) and others:
                post = fit(others, cell, np.random.default_rng(seed_for(21, ci, gi)),
                           draws=draws, burn=burn)
            for i in members:
                # Without scatter the likelihood of a draw of the shared term is sharp and
                # the average over draws heavy-tailed: four times the draws there.
                ev[rows[i].primary], se[rows[i].primary] = row_evidence(
                    rows[i], cell, post,
                    draws=evidence_draws // 4 if cell.scatter else evidence_draws,
                    rng=np.random.default_rng(seed_for(22, ci, i)))
        report["evidence"][cell.name], report["evidence_se"][cell.name] = ev, se
        report["kfold"][cell.name] = {}
        if not folds:
            continue
        say(f"{cell.name}: {folds}-fold over organs")
        preds: dict[str, list] = {r.primary: [] for r in rows}
        taus = []
        for f in range(folds):
            held = [a == f for a in assign]
            post = fit(rows, cell, np.random.default_rng(seed_for(23, ci, f)), draws=draws,
                       burn=burn, held=held)
            taus.append(post.tau)
            for p, r in enumerate(rows):
                for i, o in enumerate(r.organs):
                    if held[p][i] and r.scored[i]:
                        pred = organ_predictive(p, o, rows, post)
                        preds[r.primary].append((r.counts[i] / r.patients,
                                                 _scores(pred, int(r.counts[i]))))
        report["kfold"][cell.name] = {
            p: {"lpd": float(np.mean([s["lpd"] for _, s in v])),
                "coverage_90": float(np.mean([s["covered"] for _, s in v])),
                "organs": len(v), **agreement([x for x, _ in v], [s["mean"] for _, s in v])}
            for p, v in preds.items() if v}
        if cell.scatter:
            t = np.concatenate(taus)
            report["tau"][cell.name] = [float(q) for q in np.quantile(t, [0.05, 0.5, 0.95])]
    report.update(summarise(report, [r.primary for r in rows], cells))
    return report


def summarise(report: Mapping[str, Any], primaries: Sequence[str], cells: Sequence[Cell]
              ) -> dict[str, Any]:
    """Posterior probabilities of the cells per primary and pooled (equal prior
    probabilities), the factors' marginal probabilities, and the pooled scores."""
    names = [c.name for c in cells]
    per: dict[str, dict[str, float]] = {}
    for p in primaries:
        lv = np.array([report["evidence"][n][p] for n in names])
        w = np.exp(lv - special.logsumexp(lv))
        per[p] = dict(zip(names, w.tolist(), strict=True))
    pooled_lv = np.array([sum(report["evidence"][n][p] for p in primaries) for n in names])
    pooled_se = np.array([math.sqrt(sum(report["evidence_se"][n][p] ** 2 for p in primaries))
                          for n in names])
    pooled = np.exp(pooled_lv - special.logsumexp(pooled_lv))
    by = {c.name: c for c in cells}

    def factor(prob: Mapping[str, float]) -> dict[str, float]:
        return {"anatomical delivery": sum(v for n, v in prob.items() if by[n].delivery == "anatomical"),
                "shared organ term": sum(v for n, v in prob.items() if by[n].shared),
                "seed-specific soil": sum(v for n, v in prob.items() if by[n].scatter)}

    # Over all primaries the sum of leave-one-out scores is a cross-validated score, not a
    # marginal likelihood: its normalised exponential is a pseudo-BMA weight (Yao et al.
    # 2018, Bayesian Anal 13:917), not a posterior probability.
    return {"probabilities": per,
            "pooled": {"log_evidence": dict(zip(names, pooled_lv.tolist(), strict=True)),
                       "log_evidence_se": dict(zip(names, pooled_se.tolist(), strict=True)),
                       "weights": dict(zip(names, pooled.tolist(), strict=True)),
                       "factors": factor(dict(zip(names, pooled.tolist(), strict=True)))},
            "factors": {p: factor(per[p]) for p in primaries}}


def _f(v: float, fmt: str) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def markdown(report: Mapping[str, Any], notes: Mapping[str, str] | None = None) -> str:
    """The trial as two tables: the cells over all primaries, and each primary's
    probabilities. Every number is out of sample (a prediction)."""
    cells = list(report["cells"])
    pooled = report["pooled"]
    kf = report["kfold"]
    lines = ["| model | what it adds | Σ log predictive density, leave one primary out "
             "(± Monte Carlo SE) | weight over all primaries | k-fold log predictive density "
             "per organ | k-fold 90 % coverage | k-fold ρ / R² | τ (90 % interval) |",
             "|---|---|---|---|---|---|---|---|"]
    for n in cells:
        rows = list(kf[n].values())

        def mean(key: str, rows: list = rows) -> float:
            v = [r[key] for r in rows if not math.isnan(r[key])]
            return float(np.mean(v)) if v else math.nan

        tau = report["tau"].get(n)
        tau_s = f"{tau[1]:.2f} ({tau[0]:.2f}-{tau[2]:.2f})" if tau else "–"
        lines.append(
            f"| `{n}` | {report['cells'][n]} | {pooled['log_evidence'][n]:.1f} "
            f"(± {pooled['log_evidence_se'][n]:.1f}) | {pooled['weights'][n]:.2f} | "
            f"{_f(mean('lpd'), '.2f')} | {_f(mean('coverage_90'), '.0%')} | "
            f"{_f(mean('spearman'), '.2f')} / {_f(mean('r2'), '.2f')} | {tau_s} |")
    fac = pooled["factors"]
    lines += ["", "All primaries together (weights: the normalised exponentials of the summed "
              "leave-one-out scores, not posterior probabilities): anatomical delivery "
              f"{fac['anatomical delivery']:.2f}, organ term shared by all primaries "
              f"{fac['shared organ term']:.2f}, seed-specific soil "
              f"{fac['seed-specific soil']:.2f}. Per primary (below): the posterior probability "
              "of each model for the primary's row, given the other primaries.", ""]
    head = "| primary | " + " | ".join(f"`{n}`" for n in cells) + \
        " | P(anatomical) | P(organ term) | P(seed-specific) |"
    lines += [head, "|" + "---|" * (len(cells) + 4)]
    for p, probs in report["probabilities"].items():
        f = report["factors"][p]
        lines.append(f"| {p} | " + " | ".join(f"{probs[n]:.2f}" for n in cells)
                     + f" | {f['anatomical delivery']:.2f} | {f['shared organ term']:.2f} | "
                     f"{f['seed-specific soil']:.2f} |")
    for p, text in (notes or {}).items():
        lines.append(f"| {p} | {text} |" + " |" * (len(cells) + 2))
    return "\n".join(lines) + "\n"


def load_bundled(path: Path = BUNDLED_TRIAL) -> dict[str, Any] | None:
    """The bundled presets' trial, or None."""
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """The trial in a few lines: each model's summed score and weight, and the factors'
    weights."""
    pooled = report["pooled"]
    out = [f"{'model':<26}{'log pred. density':>19}{'weight':>10}"]
    for n in report["cells"]:
        out.append(f"{n:<26}{pooled['log_evidence'][n]:>12.1f} ± {pooled['log_evidence_se'][n]:<4.1f}"
                   f"{pooled['weights'][n]:>10.2f}")
    fac = pooled["factors"]
    out.append("weights: anatomical delivery {:.2f}, organ term shared by all primaries {:.2f}, "
               "seed-specific soil {:.2f}".format(fac["anatomical delivery"],
                                                       fac["shared organ term"],
                                                       fac["seed-specific soil"]))
    return out


__all__ = ["BUNDLED_TRIAL", "CELLS", "DELIVERIES", "Cell", "CellFit", "Row", "binomial_loglik", "check_rows",
           "fit", "fold_assignment", "load_bundled", "markdown", "organ_predictive", "row_evidence",
           "summarise", "summary_lines", "trial"]
