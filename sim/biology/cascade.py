"""The steps of the metastatic cascade, one function each.

Every function takes the model's :class:`numpy.random.Generator` and a *count* of identical
cells (or cell clusters) and returns how that count splits between the step's outcomes.
The split is an exact binomial or multinomial draw: the same distribution as deciding each
cell on its own, so a cohort of ``n`` cells and ``n`` single cells are statistically the
same thing (the aggregated engine and the single-cell engine differ only in bookkeeping).

Rates are per day; a rate ``r`` acting for ``dt`` days becomes the step probability
``1 - exp(-r dt)``; competing rates share that probability in proportion (competing risks).
"""

from __future__ import annotations

import math
from typing import Any, overload

import numba
import numpy as np

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def split_cohorts(rng: np.random.Generator, counts: np.ndarray,
                  probabilities: np.ndarray) -> np.ndarray:
    """Split many cohorts at once: row ``i`` of ``probabilities`` for ``counts[i]`` units.

    One broadcast multinomial draw; the same distribution as splitting each cohort (or each
    cell) on its own. Returns an array of shape ``(len(counts), outcomes)``.
    """
    if len(counts) == 0:
        return np.zeros((0, np.shape(probabilities)[-1]), dtype=np.int64)
    return rng.multinomial(np.asarray(counts, dtype=np.int64), probabilities)


#: A count of cells: one cohort's (int), or an array of cohorts'.
Count = int | np.ndarray
#: The outcome counts of one cohort (ints) or of an array of cohorts (arrays).
Pair = tuple[int, int] | tuple[np.ndarray, np.ndarray]
Triple = tuple[int, int, int] | tuple[np.ndarray, np.ndarray, np.ndarray]


def _outcomes(rng: np.random.Generator, count: Count, probabilities: np.ndarray) -> np.ndarray:
    """Scalar count -> one split; array of counts -> one row of outcomes per cohort."""
    if np.ndim(count) == 0:
        return split(rng, int(count), probabilities)
    return split_cohorts(rng, np.asarray(count), probabilities)


def _elementwise(x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as contiguous float arrays of their broadcast shape (for the
    compiled element-by-element loops)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    shape = np.broadcast_shapes(a.shape, b.shape)
    return (np.array(np.broadcast_to(a, shape), dtype=float, order="C"),
            np.array(np.broadcast_to(b, shape), dtype=float, order="C"))


def normalise(probabilities: np.ndarray) -> np.ndarray:
    """Probabilities clipped at 0 and scaled to sum to 1, as :func:`split` draws with them."""
    p: np.ndarray = np.clip(np.asarray(probabilities, dtype=float), 0.0, None)
    return p / float(p.sum())


def split(rng: np.random.Generator, count: int, probabilities: np.ndarray,
          normalised: bool = False) -> np.ndarray:
    """Split ``count`` identical units between outcomes by one multinomial draw.

    ``normalised=True`` says ``probabilities`` already came from :func:`normalise` (a
    vector reused every step is normalised once; the draw is the same).
    """
    if count == 0:
        return np.zeros(len(probabilities), dtype=np.int64)
    return rng.multinomial(count, probabilities if normalised else normalise(probabilities))


# --------------------------------------------------------------------------------------
# 1. Detachment
# --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def shedding_events_one(mass_g: float, shedding_rate_per_gram_per_day: float, dt_days: float,
                        cluster_fraction: float, cells_per_cluster: int,
                        mass_exponent: float) -> float:
    """:func:`shedding_events` of one tumour (compiled: the population engine's step
    kernels call it)."""
    expected_cells: float = shedding_rate_per_gram_per_day * mass_g ** mass_exponent * dt_days
    return expected_cells / ((1.0 - cluster_fraction) + cluster_fraction * cells_per_cluster)


@numba.njit(cache=True)
def _shedding_events_many(mass_g: np.ndarray, rate: np.ndarray, dt_days: float,
                          cluster_fraction: float, cells_per_cluster: int,
                          mass_exponent: float, out: np.ndarray) -> None:
    for i in range(len(out)):
        out[i] = shedding_events_one(mass_g[i], rate[i], dt_days, cluster_fraction,
                                     cells_per_cluster, mass_exponent)


def shedding_events(mass_g: np.ndarray | float, shedding_rate_per_gram_per_day: np.ndarray | float,
                    dt_days: float, cluster_fraction: float, cells_per_cluster: int,
                    mass_exponent: float = 1.0) -> np.ndarray | float:
    """Expected shedding events (a single cell or a cluster each) of a tumour of ``mass_g``
    grams in ``dt_days``: ``rate * mass ** mass_exponent * dt`` cells, in events of
    ``1 - cluster_fraction + cluster_fraction * cells_per_cluster`` cells on average
    (:func:`detachment` draws them; the population engine uses the means). Vectorised,
    element by element with :func:`shedding_events_one`."""
    if np.ndim(mass_g) == 0 and np.ndim(shedding_rate_per_gram_per_day) == 0:
        return shedding_events_one(float(mass_g), float(shedding_rate_per_gram_per_day),
                                   dt_days, cluster_fraction, cells_per_cluster,
                                   float(mass_exponent))
    m, r = _elementwise(mass_g, shedding_rate_per_gram_per_day)
    out = np.empty(m.shape)
    _shedding_events_many(m.ravel(), r.ravel(), dt_days, cluster_fraction, cells_per_cluster,
                          float(mass_exponent), out.reshape(-1))
    return out


@numba.njit(cache=True)
def competent_seed_share_one(shedding_tumour_cells: float, reference_cells: float,
                             exponent: float) -> float:
    """The share of the cells arriving in an organ that can found a colony, when the
    tumours that shed them (the primary and the macrometastases) hold
    ``shedding_tumour_cells``: 1 up to ``reference_cells``, then
    ``(cells / reference_cells) ** -exponent``; always 1 for an exponent of 0. The others
    ("spent" seeds) arrest, extravasate, sleep and die like any lodged cell - a blood
    sample and a marrow aspirate count them - but never proliferate or wake.

    Biology: the chance that a tumour cell founds a metastasis falls steeply as the tumour
    grows. Michaelson et al. 2005 (Br J Cancer 93:1244) count ~1 spread event per ~500
    cells in 0.1 mm melanomas against ~1 per 1e8 cells at 12 mm; Hosseini et al. 2016
    (Nature 540:552) trace >= 80 % of metastases to cells that left early; Hu et al. 2019
    (Nat Genet 51:1113) date most colorectal seeding to before the primary reached
    ~0.01 cm^3. What the early cells have and the late ones lack is not known: the power
    law is an ASSUMPTION that carries Michaelson's measured fall.
    """
    if exponent == 0.0 or shedding_tumour_cells <= reference_cells:
        return 1.0
    return float((shedding_tumour_cells / reference_cells) ** -exponent)


def lodged_clones(subclones: list[Any], seed_competence_exponent: float) -> list[Any]:
    """The lodged cells' subclones: the scenario's, then - when seeds lose competence with
    the tumours' size (:func:`competent_seed_share_one`) - one "spent" copy of each (shed
    by nothing, never proliferating or waking), where the arrivals that cannot found a
    colony lodge. Both engines build their lodged rows from this list."""
    clones = list(subclones)
    if seed_competence_exponent > 0:
        clones += [c.model_copy(update={"name": f"{c.name} (spent)", "fraction": 0.0,
                                        "shedding": 0.0, "proliferation": 0.0,
                                        "awakening": 0.0}) for c in subclones]
    return clones


def detachment(rng: np.random.Generator, mass_g: float, shedding_rate_per_gram_per_day: float,
               dt_days: float, clone_weights: np.ndarray, cluster_fraction: float,
               cells_per_cluster: int, mass_exponent: float = 1.0,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Cells leaving the tumour mass during one step.

    Biology: tumour cells lose their adhesions (E-cadherin loss, EMT) and are released into
    the surrounding tissue and vessels. Shedding grows with tumour mass: a rat mammary
    tumour of 2-4 g released 3.2e6 cells per gram per day into its venous blood (Butler &
    Gullino 1975, Cancer Res 35:512); human tumours shed far fewer, to judge by the CTCs
    found in patients (the presets' rates are calibrated to them). Most leave as single
    cells; a few as clusters, rare but 23-50x more metastatic (Aceto et al. 2014, Cell
    158:1110).

    Shedding events form a Poisson process. The expected number of *cells* is
    ``rate * mass ** mass_exponent * dt`` (mass in grams: ``rate`` is the shedding of a 1 g
    tumour; an exponent below 1 makes shedding grow like the tumour's vascularised surface
    rather than its volume), divided among subclones by ``clone_weights`` (fraction x
    shedding trait) and between single cells and clusters so that a fraction
    ``cluster_fraction`` of *events* are clusters of ``cells_per_cluster`` cells.

    Returns
    -------
    singles, clusters : numpy.ndarray of int
        Single cells and clusters shed by each subclone.
    """
    events = shedding_events(mass_g, shedding_rate_per_gram_per_day, dt_days,
                             cluster_fraction, cells_per_cluster,
                             mass_exponent) * np.asarray(clone_weights, dtype=float)
    singles = rng.poisson(events * (1.0 - cluster_fraction))
    clusters = rng.poisson(events * cluster_fraction)
    return singles.astype(np.int64), clusters.astype(np.int64)


# --------------------------------------------------------------------------------------
# 2. Invasion
# --------------------------------------------------------------------------------------


def invasion(rng: np.random.Generator, count: int, success_probability: float) -> int:
    """Detached cells that cross the basement membrane and the stroma alive.

    Biology: the cell degrades the basement membrane (matrix metalloproteinases), migrates
    through the stroma and reaches a vessel, a lymphatic or a body cavity; cells that fail
    die (anoikis, immune attack in the stroma). Returns the survivors; the others are lost
    at the invasion step.
    """
    return int(rng.binomial(count, success_probability)) if count else 0


# --------------------------------------------------------------------------------------
# 3. Route entry
# --------------------------------------------------------------------------------------


def route_entry(rng: np.random.Generator, count: int, entry_probabilities: np.ndarray) -> np.ndarray:
    """Split invading cells between the entry points of the routes.

    Biology: a cell enters a blood vessel (intravasation: hematogenous spread; through the
    caval, portal or pulmonary veins or Batson's vertebral plexus), a lymphatic (lymphatic
    spread to the regional nodes), a body cavity (transcoelomic spread over the peritoneum or
    pleura) or grows directly into a neighbouring tissue (contiguous spread). The split is a
    property of the primary site's anatomy (``sim.biology.anatomy.PRIMARY_SITES``).
    """
    return split(rng, count, entry_probabilities)


# --------------------------------------------------------------------------------------
# 4-5. Survival in transit and arrest
# --------------------------------------------------------------------------------------


def transit(rng: np.random.Generator, count: int, absorption: np.ndarray,
            normalised: bool = False) -> np.ndarray:
    """Resolve a cohort's journey through the circulation in one multinomial draw.

    Biology: in the blood a tumour cell meets shear forces, anoikis (death for lack of
    anchorage) and natural-killer cells; CTCs have a half-life of hours (Meng et al. 2004,
    Clin Cancer Res 10:8152). Cells that survive are ~10-20 um across and arrest in the first
    capillary bed narrower than themselves (Chambers et al. 2002): ~92 % of cells are held
    back by the first bed they meet (Butler & Gullino 1975). ``absorption`` is the row of the
    circulation chain's absorption matrix for the cohort's entry point: the probability of
    each final state (arrest in an organ, or death on a route); ``normalised`` as in
    :func:`split`.
    """
    return split(rng, count, absorption, normalised)


@overload
def arrest_and_extravasation(rng: np.random.Generator, count: int,
                             extravasation_prob: float | np.ndarray,
                             death_prob: float | np.ndarray) -> tuple[int, int]: ...
@overload
def arrest_and_extravasation(rng: np.random.Generator, count: np.ndarray,
                             extravasation_prob: float | np.ndarray,
                             death_prob: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def arrest_and_extravasation(rng: np.random.Generator, count: Count,
                             extravasation_prob: float | np.ndarray,
                             death_prob: float | np.ndarray) -> Pair:
    """Arrested cells that leave the vessel, and that die in it, during one step.

    Biology: an arrested cell either crosses the endothelium into the organ (extravasation,
    within 1-3 days: ~83 % of injected cells had extravasated by day 3 in Luzzi et al. 1998,
    Am J Pathol 153:865; >80 % by 24 h in the chick embryo, Koop et al. 1995, Cancer Res
    55:2520) or dies in the capillary. The probabilities come from :func:`competing_risks`.
    ``count`` may be an array of cohorts, with arrays of probabilities (one per cohort).

    Returns
    -------
    extravasated, died : int, or arrays for arrays of cohorts
    """
    e = np.asarray(extravasation_prob, dtype=float)
    d = np.asarray(death_prob, dtype=float)
    s = _outcomes(rng, count, np.stack([e, d, 1.0 - e - d], axis=-1))
    if s.ndim == 1:
        return int(s[0]), int(s[1])
    return s[:, 0], s[:, 1]


# --------------------------------------------------------------------------------------
# 6. Colonization and dormancy
# --------------------------------------------------------------------------------------


@overload
def solitary_cell_fate(rng: np.random.Generator, count: int,
                       probabilities: np.ndarray) -> tuple[int, int, int]: ...
@overload
def solitary_cell_fate(rng: np.random.Generator, count: np.ndarray,
                       probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def solitary_cell_fate(rng: np.random.Generator, count: Count,
                       probabilities: np.ndarray) -> Triple:
    """What solitary extravasated cells do during one step.

    Biology: in the foreign tissue most single cells die; many stop dividing and stay
    dormant (36 % of injected cells were solitary and quiescent at day 13 in Luzzi 1998);
    very few start to proliferate - the rate-limiting, inefficient step of metastasis
    (Chambers et al. 2002). The organ's "soil" affinity multiplies the proliferation hazard
    (Paget 1889). ``probabilities`` = (die, become dormant, proliferate, no change); for an
    array of cohorts, one such row per cohort.

    Returns
    -------
    died, dormant, proliferating : int, or arrays for arrays of cohorts
    """
    s = _outcomes(rng, count, probabilities)
    if s.ndim == 1:
        return int(s[0]), int(s[1]), int(s[2])
    return s[:, 0], s[:, 1], s[:, 2]


@overload
def dormancy(rng: np.random.Generator, count: int,
             probabilities: np.ndarray) -> tuple[int, int]: ...
@overload
def dormancy(rng: np.random.Generator, count: np.ndarray,
             probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def dormancy(rng: np.random.Generator, count: Count, probabilities: np.ndarray) -> Pair:
    """Dormant cells that die, and that wake up, during one step.

    Biology: disseminated tumour cells can stay quiescent for years - breast cancer relapses
    more than 25 years after diagnosis (Willis et al. 2010) and CTCs are found 7-22 years
    after mastectomy (Meng et al. 2004). A change in the niche can wake them; the organ's
    soil affinity multiplies the awakening hazard. ``probabilities`` = (die, awaken, none);
    for an array of cohorts, one such row per cohort.

    Returns
    -------
    died, awakened : int, or arrays for arrays of cohorts
    """
    s = _outcomes(rng, count, probabilities)
    if s.ndim == 1:
        return int(s[0]), int(s[1])
    return s[:, 0], s[:, 1]


@numba.njit(cache=True)
def kendall_one(birth_rate_per_day: float, death_rate_per_day: float,
                t_days: float) -> tuple[float, float]:
    """:func:`kendall_parameters` for one time (compiled: the step kernels call it)."""
    b, d, t = birth_rate_per_day, death_rate_per_day, t_days
    if abs(b - d) <= 1e-12 * max(abs(b), abs(d)):
        alpha = beta = b * t / (1.0 + b * t)
    elif b > d:
        # Divide through by g so that nothing overflows for large (b - d) t.
        e = math.exp(-(b - d) * t)
        alpha = d * (1.0 - e) / (b - d * e)
        beta = b * (1.0 - e) / (b - d * e)
    else:
        g = math.exp((b - d) * t)  # <= 1
        denom = b * g - d
        alpha = d * (g - 1.0) / denom
        beta = b * (g - 1.0) / denom
    return min(max(alpha, 0.0), 1.0), min(max(beta, 0.0), 1.0 - 1e-15)


@numba.njit(cache=True)
def _kendall_many(b: float, d: float, t: np.ndarray, alpha: np.ndarray,
                  beta: np.ndarray) -> None:
    for i in range(len(t)):
        alpha[i], beta[i] = kendall_one(b, d, t[i])


def kendall_parameters(birth_rate_per_day: float, death_rate_per_day: float,
                       t_days: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Kendall's (1948) ``alpha`` and ``beta`` of a linear birth-death process after
    ``t_days`` from one cell (see :func:`birth_death`): extinct with probability ``alpha``,
    otherwise geometric on {1, 2, ...} with parameter ``1 - beta``. Vectorised over
    ``t_days`` (element by element with :func:`kendall_one`)."""
    if np.ndim(t_days) == 0:
        a, b = kendall_one(float(birth_rate_per_day), float(death_rate_per_day),
                           float(t_days))
        return np.float64(a), np.float64(b)  # type: ignore[return-value]
    t = np.ascontiguousarray(t_days, dtype=float)
    alpha, beta = np.empty(t.shape), np.empty(t.shape)
    _kendall_many(float(birth_rate_per_day), float(death_rate_per_day), t.reshape(-1),
                  alpha.reshape(-1), beta.reshape(-1))
    return alpha, beta


def reaches_probability(founders: int, age_days: np.ndarray | float, cells: float,
                        birth_rate_per_day: float, death_rate_per_day: float) -> np.ndarray:
    """Probability that a colony founded by ``founders`` cells ``age_days`` ago, growing by
    the linear birth-death process of :func:`birth_death`, holds at least ``cells`` cells
    now. Exact: of the ``founders`` lineages ``m ~ Binomial(founders, 1 - alpha)`` survive,
    holding ``m + NegativeBinomial(m, 1 - beta)`` cells (Kendall 1948). Zero for ages <= 0
    (unless the founders are already enough). It ignores the avascular limit, so it holds
    for thresholds below it (:func:`sim.experiments.emulator.site_emulator` checks)."""
    from scipy import stats

    age = np.asarray(age_days, dtype=float)
    if founders >= cells:
        return np.ones_like(age)
    alpha, beta = kendall_parameters(birth_rate_per_day, death_rate_per_day,
                                     np.maximum(age, 0.0))
    out = np.zeros_like(age)
    for m in range(1, founders + 1):
        alive = stats.binom.pmf(m, founders, 1.0 - alpha)
        # P(m + NB >= cells) = P(NB >= cells - m) = sf(cells - m - 1)
        out += alive * stats.nbinom.sf(math.ceil(cells) - m - 1, m, 1.0 - beta)
    return np.where(age > 0, out, 0.0)


def birth_death(rng: np.random.Generator, sizes: np.ndarray, birth_rate_per_day: float,
                death_rate_per_day: float, dt_days: float | np.ndarray) -> np.ndarray:
    """Exact sizes after ``dt_days`` of a linear birth-death process, for many colonies.

    Biology: a young avascular micrometastasis grows by divisions and loses cells to death;
    while it is small, chance extinction matters: a lineage founded by one cell dies out with
    probability ``death / birth`` (Kendall 1948). Most micrometastases vanish (Luzzi 1998).

    Maths: from one cell, after time t the population is 0 with probability ``alpha`` and
    otherwise geometric on {1, 2, ...} with parameter ``1 - beta`` (Kendall 1948,
    Ann Math Stat 19:1), with ``g = exp((b - d) t)``,
    ``alpha = d (g - 1) / (b g - d)`` and ``beta = b (g - 1) / (b g - d)``. From ``n`` cells
    the lineages are independent: ``m ~ Binomial(n, 1 - alpha)`` survive, and their total is
    ``m + NegativeBinomial(m, 1 - beta)``. No time discretisation error at all, so many
    steps are one draw (``dt_days`` may differ between colonies: an array like ``sizes``).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    b, d, t = birth_rate_per_day, death_rate_per_day, dt_days
    if b <= 0.0 and d <= 0.0:
        return sizes.copy()
    alpha: np.ndarray | float
    beta: np.ndarray | float
    if np.ndim(t):
        alpha, beta = (np.asarray(x, dtype=float) for x in kendall_parameters(b, d, t))
    else:
        alpha, beta = (float(x) for x in kendall_parameters(b, d, t))
    out = np.empty(len(sizes) if sizes.ndim else 1, dtype=np.int64)
    n = sizes.reshape(-1)
    a, bb = _elementwise(np.broadcast_to(np.asarray(alpha, dtype=float), n.shape), beta)
    birth_death_draws(rng, np.ascontiguousarray(n), a, bb, out)
    return out.reshape(sizes.shape)


@numba.njit(cache=True)
def birth_death_draws(rng: np.random.Generator, sizes: np.ndarray, alpha: np.ndarray,
                      beta: np.ndarray, out: np.ndarray) -> None:
    """The draws of :func:`birth_death` (compiled: the step kernels call it): for each
    colony in order the surviving lineages ``Binomial(n, 1 - alpha)``, then for each colony
    with survivors in order their cells ``m + NegativeBinomial(m, 1 - beta)``."""
    for i in range(len(sizes)):
        out[i] = rng.binomial(sizes[i], 1.0 - alpha[i]) if sizes[i] > 0 else 0
    for i in range(len(sizes)):
        if out[i] > 0:
            out[i] += rng.negative_binomial(out[i], 1.0 - beta[i])


def log_kendall_tail_bound(n: np.ndarray, birth_rate_per_day: float,
                           death_rate_per_day: float, t_days: float, m: float) -> np.ndarray:
    """An upper bound on ``log P(Z_t >= m)`` for a linear birth-death process from ``n``
    cells (vectorised over ``n``): Chernoff's bound on the sum of the ``n`` independent
    lineages, each 0 with probability ``alpha`` and otherwise geometric with parameter
    ``1 - beta`` (:func:`kendall_parameters`), at ``e^lambda = beta^-1/2``. Used to show
    that a micrometastasis cannot reach the avascular size within a window."""
    n = np.asarray(n, dtype=float)
    alpha, beta = (float(x) for x in kendall_parameters(birth_rate_per_day,
                                                        death_rate_per_day, t_days))
    if beta <= 0.0:
        return np.where(n >= m, 0.0, -np.inf)
    r = math.sqrt(beta)                       # e^lambda = 1 / r
    mgf = alpha + (1.0 - alpha) * (1.0 - beta) / (r - beta)
    return n * math.log(mgf) + m * math.log(r)


def kill_cells(rng: np.random.Generator, cells: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """The cells of each colony left after every cell is killed with probability ``p``
    (a therapy's kill in one step, or a local therapy's efficacy): a binomial draw per
    colony below 10^9 cells, the expected fraction above (log-kill, where the binomial's
    spread is negligible), and none left below one cell. Both engines' rule."""
    cells = np.asarray(cells, dtype=float)
    p = np.broadcast_to(np.asarray(p, dtype=float), cells.shape)
    out = cells.copy()
    hit = p > 0
    small = hit & (cells < 1e9)
    if small.any():
        out[small] = rng.binomial(cells[small].astype(np.int64), 1.0 - p[small]).astype(float)
    big = hit & ~small
    out[big] = cells[big] * (1.0 - p[big])
    out[big & (out < 1.0)] = 0.0
    return out


def angiogenic_switch(rng: np.random.Generator, waiting: int, probability: float) -> np.ndarray:
    """Which of ``waiting`` colonies at the avascular limit switch on angiogenesis this step.

    Biology: without new vessels a tumour stays "perhaps 2-3 mm" (Folkman 1972, Ann Surg
    175:409); at that size hypoxia drives VEGF, and when the balance tips (the angiogenic
    switch) vessels grow in and the colony can grow into a macrometastasis. Until then it
    sits in angiogenic dormancy, proliferation balanced by death. Returns one boolean per
    colony (each switches with ``probability``, independently).
    """
    return rng.random(waiting) < probability


@numba.njit(cache=True)
def gompertz_one(cells: float, rate_per_day: float, carrying_capacity_cells: float,
                 dt_days: float) -> float:
    """:func:`gompertz` of one tumour (compiled: the step kernels call it)."""
    if cells <= 0.0:
        return 0.0
    K = carrying_capacity_cells
    return K * math.exp(math.log(cells / K) * math.exp(-rate_per_day * dt_days))


@numba.njit(cache=True)
def _gompertz_many(cells: np.ndarray, rate: np.ndarray, K: float, dt_days: float,
                   out: np.ndarray) -> None:
    for i in range(len(out)):
        out[i] = gompertz_one(cells[i], rate[i], K, dt_days)


def gompertz(cells: np.ndarray | float, rate_per_day: np.ndarray | float, carrying_capacity_cells: float,
             dt_days: float) -> np.ndarray | float:
    """Deterministic Gompertz growth over ``dt_days`` (exact solution).

    ``dN/dt = a N ln(K / N)``, solved as ``N(t + dt) = K exp(ln(N/K) exp(-a dt))``.
    Used for the primary tumour and for vascularised metastases (Iwata et al. 2000, J Theor
    Biol 203:177; Norton 1988, Cancer Res 48:7067). Vectorised, element by element with
    :func:`gompertz_one`.
    """
    if np.ndim(cells) == 0 and np.ndim(rate_per_day) == 0:
        return gompertz_one(float(cells), float(rate_per_day), float(carrying_capacity_cells),
                            dt_days)
    c, r = _elementwise(cells, rate_per_day)
    out = np.empty(c.shape)
    _gompertz_many(c.ravel(), r.ravel(), float(carrying_capacity_cells), dt_days, out.reshape(-1))
    return out


def gompertz_rate_from_doubling(doubling_time_days: float, cells: float,
                                carrying_capacity_cells: float) -> float:
    """Gompertz rate ``a`` such that the doubling time at size ``cells`` is as given.

    The instantaneous growth rate is ``a ln(K / N)``; setting it to ``ln 2 / T_d`` at
    ``N = cells`` gives ``a``.
    """
    return math.log(2.0) / (doubling_time_days * math.log(carrying_capacity_cells / cells))
