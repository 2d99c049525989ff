"""The hierarchical soil: organ soil shared across primaries, a shrunk deviation per primary.

For primary ``p`` and organ ``o`` the colonisation hazards of lodged cells are multiplied by
``exp(a_po)``, the product of the colonisation competence and the organ's affinity, with

    a_po = c_p + s_o + delta_po,      delta_po ~ Normal(0, tau^2),

* ``c_p``: the primary's colonisation level (log competence). Its prior is what the non-site
  targets say about the competence (the ABC posterior of :mod:`sim.experiments.inference`),
  or, for a primary without population targets, the wide prior of the competence;
* ``s_o``: the organ's soil, shared by every primary (prior Normal(0, 2^2): a factor e^2 ~ 7
  either way, ASSUMPTION, weakly informative on the scale of the affinities fitted so far);
* ``delta_po``: how this seed differs from the shared soil, shrunk towards 0 by ``tau``;
  ``tau`` (half-Cauchy(0, 1) prior, ASSUMPTION following Gelman 2006, Bayesian Anal 1:515)
  is the posterior answer to "how seed-specific is the soil".

Given the course parameters, the autopsy counts of different organs and primaries are
independent, and each depends on ``a_po`` only, through the site emulator
(:mod:`sim.experiments.emulator`): ``f_po(a)`` = mean over simulated patients of
``1 - exp(-exp(a - a0_po) Lambda_io)`` with ``a0_po`` the level the cohort was simulated at.
So the likelihood is tabulated once on a grid of ``a`` per (primary, organ), and the
posterior is sampled by Gibbs sampling: ``a_po`` from its grid (exact), ``c_p`` and ``s_o``
from their normal full conditionals, ``tau`` from a grid. Hundreds of parameters take
seconds. Predictive distributions (held-out organs, a left-out primary) integrate over the
same grid.

Number of free soil parameters: 20-odd shared ``s_o``, one ``tau`` and one ``c_p`` per
primary; the ``delta_po`` are random effects, shrunk unless the data insist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

#: Grid of a = log(competence x affinity): competences of 1e-13 to 1e-1 with any affinity the
#: fits have needed (0.01 to 10^4) stay inside. Step 0.1 (a 10 % change in the hazard).
A_GRID = np.arange(-36.0, 2.0 + 1e-9, 0.1)
#: Prior sd of the shared organ soil s_o (natural log units). ASSUMPTION (see module doc).
SOIL_PRIOR_SD = 2.0
#: Scale of the half-Cauchy prior of tau. ASSUMPTION (see module doc).
TAU_PRIOR_SCALE = 1.0
#: Grid of tau for its Gibbs step.
TAU_GRID = np.exp(np.linspace(np.log(0.02), np.log(8.0), 240))


@dataclass
class PrimaryData:
    """One primary's autopsy counts and its emulated site frequencies on the a-grid."""

    primary: str
    organs: list[str]
    #: Autopsy patients with a metastasis in each organ, and the table's patients.
    counts: np.ndarray
    patients: int
    #: f_po on A_GRID, one row per organ in ``organs``.
    frequency: np.ndarray
    #: Prior of c_p: mean and sd (natural log of the competence).
    level_mean: float
    level_sd: float

    @property
    def reachable(self) -> np.ndarray:
        """Organs the simulated cohort can colonise at all (some patient's cells reach it):
        an organ it cannot (the ovaries of a preset's male patients, against an autopsy row
        that counts women too) carries no evidence about the soil and is not scored."""
        return self.frequency[:, -1] > 0

    def loglik(self, held_out: np.ndarray | None = None) -> np.ndarray:
        """log Binomial(k; n, f(a)) on the grid per organ; 0 (no data) for held-out organs
        and for organs the cohort cannot reach."""
        f = np.clip(self.frequency, 1e-12, 1 - 1e-12)
        k = self.counts[:, None]
        n = self.patients
        ll = (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
              + k * np.log(f) + (n - k) * np.log1p(-f))
        hidden = ~self.reachable if held_out is None else (held_out | ~self.reachable)
        return np.where(hidden[:, None], 0.0, ll)


@dataclass
class SoilPosterior:
    """Gibbs draws of the hierarchical soil."""

    organs: list[str]
    primaries: list[str]
    #: (draws, primaries, organs): a_po (NaN where the primary's table lacks the organ).
    a: np.ndarray
    #: (draws, primaries), (draws, organs), (draws,)
    level: np.ndarray
    soil: np.ndarray
    tau: np.ndarray
    extra: dict = field(default_factory=dict)

    def shared_summary(self) -> dict:
        """Posterior mean and sd of each organ's shared soil, and tau's quantiles (the form
        in which one primary's calibration takes the other primaries' evidence)."""
        return {"organs": {o: [float(self.soil[:, j].mean()), float(self.soil[:, j].std())]
                           for j, o in enumerate(self.organs)},
                "tau": [float(np.median(self.tau)), float(np.std(np.log(self.tau)))],
                "tau_90": [float(q) for q in np.quantile(self.tau, [0.05, 0.95])]}


def _sample_grid(logw: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One draw per row of a discrete distribution on A_GRID with log weights ``logw``
    (jittered uniformly within the grid cell so draws are continuous)."""
    w = np.exp(logw - logw.max(axis=-1, keepdims=True))
    cdf = np.cumsum(w, axis=-1)
    idx = (cdf < (u[..., None] * cdf[..., -1:])).sum(axis=-1)
    idx = np.minimum(idx, len(A_GRID) - 1)
    return A_GRID[idx]


def gibbs(data: Sequence[PrimaryData], organs: Sequence[str], rng: np.random.Generator, *,
          draws: int = 1500, burn: int = 500, thin: int = 2,
          held_out: Sequence[np.ndarray | None] | None = None,
          soil_prior: dict | None = None) -> SoilPosterior:
    """Sample the hierarchical soil posterior.

    ``soil_prior``: instead of Normal(0, 2^2) for every s_o and the half-Cauchy for tau, the
    :meth:`SoilPosterior.shared_summary` of other primaries' fit (one primary calibrated
    against the shared soil the others found: normal s_o, log-normal tau).
    ``held_out[p]``: organs of primary p whose counts are hidden (cross-validation).
    """
    organs = list(organs)
    P, O = len(data), len(organs)
    col = {o: j for j, o in enumerate(organs)}
    G = len(A_GRID)
    ll = np.zeros((P, O, G))
    mask = np.zeros((P, O), dtype=bool)     # the organ is in the primary's table
    for p, d in enumerate(data):
        lp = d.loglik(None if held_out is None else held_out[p])
        for i, o in enumerate(d.organs):
            ll[p, col[o]] = lp[i]
            mask[p, col[o]] = bool(d.reachable[i])
    m_c = np.array([d.level_mean for d in data])
    v_c = np.array([d.level_sd for d in data]) ** 2
    if soil_prior is None:
        m_s, v_s = np.zeros(O), np.full(O, SOIL_PRIOR_SD ** 2)
        tau_logprior = np.log(2 / (np.pi * TAU_PRIOR_SCALE * (1 + (TAU_GRID / TAU_PRIOR_SCALE) ** 2)))
    else:
        m_s = np.array([soil_prior["organs"].get(o, [0.0, SOIL_PRIOR_SD])[0] for o in organs])
        v_s = np.array([soil_prior["organs"].get(o, [0.0, SOIL_PRIOR_SD])[1] for o in organs]) ** 2
        med, lsd = soil_prior["tau"]
        tau_logprior = stats.norm.logpdf(np.log(TAU_GRID), np.log(med), max(lsd, 0.05)) \
            - np.log(TAU_GRID)
    log_dtau = np.log(np.gradient(TAU_GRID))
    # Start at the prior means, a at the data's best grid point.
    c = m_c.copy()
    s = m_s.copy()
    tau = 1.0
    a = np.where(mask, A_GRID[np.argmax(ll, axis=-1)], 0.0)
    keep_a, keep_c, keep_s, keep_t = [], [], [], []
    n_mask_p = mask.sum(axis=1)
    n_mask_o = mask.sum(axis=0)
    for it in range(burn + draws * thin):
        mu = c[:, None] + s[None, :]
        logw = ll - (A_GRID[None, None, :] - mu[..., None]) ** 2 / (2 * tau ** 2)
        a_new = _sample_grid(logw, rng.random((P, O)))
        a = np.where(mask, a_new, a)
        # c_p | a, s, tau
        resid = np.where(mask, a - s[None, :], 0.0)
        prec = 1 / v_c + n_mask_p / tau ** 2
        mean = (m_c / v_c + resid.sum(axis=1) / tau ** 2) / prec
        c = mean + rng.standard_normal(P) / np.sqrt(prec)
        # s_o | a, c, tau
        resid = np.where(mask, a - c[:, None], 0.0)
        prec = 1 / v_s + n_mask_o / tau ** 2
        mean = (m_s / v_s + resid.sum(axis=0) / tau ** 2) / prec
        s = mean + rng.standard_normal(O) / np.sqrt(prec)
        # tau | a, c, s (grid)
        dev = np.where(mask, a - c[:, None] - s[None, :], 0.0)
        ss, n = float((dev ** 2).sum()), int(mask.sum())
        lw = tau_logprior + log_dtau - n * np.log(TAU_GRID) - ss / (2 * TAU_GRID ** 2)
        w = np.exp(lw - lw.max())
        tau = float(TAU_GRID[np.searchsorted(np.cumsum(w), rng.random() * w.sum())
                             .clip(0, len(TAU_GRID) - 1)])
        if it >= burn and (it - burn) % thin == 0:
            keep_a.append(np.where(mask, a, np.nan))
            keep_c.append(c.copy())
            keep_s.append(s.copy())
            keep_t.append(tau)
    return SoilPosterior(organs, [d.primary for d in data], np.array(keep_a), np.array(keep_c),
                         np.array(keep_s), np.array(keep_t))


# --------------------------------------------------------------------------------------
# Predictive distributions
# --------------------------------------------------------------------------------------

def normal_weights(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Weights on A_GRID of Normal(mean, sd^2), rows summing to 1: (..., G)."""
    z = (A_GRID - np.asarray(mean)[..., None]) / np.asarray(sd)[..., None]
    w = np.exp(-0.5 * z ** 2)
    return w / np.maximum(w.sum(axis=-1, keepdims=True), 1e-300)


def predictive_counts(frequency: np.ndarray, patients: int, mean: np.ndarray,
                      sd: np.ndarray | float) -> np.ndarray:
    """Predictive distribution of an organ's autopsy count (0..patients) when its a is
    Normal(mean_s, sd_s^2) for posterior draws s (mixture over the draws)."""
    w = normal_weights(mean, np.broadcast_to(sd, np.shape(mean))).mean(axis=0)   # (G,)
    f = np.clip(frequency, 0.0, 1.0)
    k = np.arange(patients + 1)
    pmf = stats.binom.pmf(k[:, None], patients, f[None, :])                        # (K, G)
    return pmf @ w


def organ_scores(pred: np.ndarray, observed: int) -> dict[str, float]:
    """Log predictive density of the observed count, whether it lies in the central 90 %
    predictive interval, and the predictive mean and median frequency."""
    n = len(pred) - 1
    cdf = np.cumsum(pred)
    lo = int(np.searchsorted(cdf, 0.05))
    hi = int(np.searchsorted(cdf, 0.95))
    med = int(np.searchsorted(cdf, 0.5))
    return {"lpd": float(np.log(max(pred[observed], 1e-300))),
            "covered": float(lo <= observed <= hi), "low": lo / n, "high": hi / n,
            "median": med / n, "mean": float((np.arange(n + 1) * pred).sum() / n)}


def level_only_evidence(d: PrimaryData, level_draws: np.ndarray | None = None) -> float:
    """log p(counts | Ewing): every organ at the primary's level c (neutral soil), c from
    its prior (or given draws); the counts are independent given c."""
    ll = d.loglik().sum(axis=0)                                  # (G,)
    if level_draws is None:
        w = normal_weights(np.array(d.level_mean), np.array(d.level_sd))
        return float(special.logsumexp(ll, b=w))
    idx = np.clip(np.searchsorted(A_GRID, level_draws), 0, len(A_GRID) - 1)
    return float(special.logsumexp(ll[idx]) - np.log(len(idx)))


def soil_evidence(d: PrimaryData, post: SoilPosterior, draws: int = 200,
                  rng: np.random.Generator | None = None) -> float:
    """log p(counts of primary d | the shared soil of ``post``, fitted without d): the level
    c from d's own prior, each organ's a = c + s_o + delta, delta ~ N(0, tau^2), with s and
    tau from the posterior draws; integrated on the grid."""
    rng = rng or np.random.default_rng(0)
    pick = rng.choice(len(post.tau), size=min(draws, len(post.tau)), replace=False)
    col = {o: j for j, o in enumerate(post.organs)}
    lik = np.exp(d.loglik() - d.loglik().max(axis=1, keepdims=True))   # (O_d, G)
    shift = d.loglik().max(axis=1).sum()
    c_w = normal_weights(np.array(d.level_mean), np.array(d.level_sd))   # (G,)
    out = []
    for i in pick:
        s = np.array([post.soil[i, col[o]] if o in col else 0.0 for o in d.organs])
        tau = post.tau[i]
        # For each c on the grid and organ: sum_g lik(a_g) N(a_g; c + s_o, tau^2).
        diff = A_GRID[None, None, :] - (A_GRID[:, None, None] + s[None, :, None])  # (C,O,G)
        k = np.exp(-0.5 * (diff / tau) ** 2) * (0.1 / (tau * np.sqrt(2 * np.pi)))
        per = np.einsum("cog,og->co", k, lik)
        logc = np.log(np.maximum(per, 1e-300)).sum(axis=1)          # (C,)
        out.append(special.logsumexp(logc, b=c_w))
    return float(special.logsumexp(out) - np.log(len(out)) + shift)


__all__ = [
    "A_GRID",
    "PrimaryData",
    "SoilPosterior",
    "gibbs",
    "level_only_evidence",
    "normal_weights",
    "organ_scores",
    "predictive_counts",
    "soil_evidence",
]
