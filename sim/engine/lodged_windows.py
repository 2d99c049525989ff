"""Lodged cells advanced from one event to the next: many steps with one draw per cohort.

Between two events that change their hazards (a systemic therapy starting or ending) or
look at them (a record, the diagnosis, a blood or marrow sample, the lethal-burden check,
the end of the course), the cells lodged in a patient's organs are independent of each
other and their per-step hazards are constant. A cell's course through the lodged stages is
then a Markov chain with the same one-step transition matrix every step:

* transient states: arrested (``A``), solitary (``S``), dormant (``D``);
* absorbing states: lost while arrested (``LA``), while solitary (``LS``), while dormant
  (``LD``), founded a colony as a solitary cell (``FS``) or by waking from dormancy (``FD``).

The step is the one of :class:`~sim.engine.cohorts.LodgedCells` and
:meth:`~sim.engine.clinic.Clinic.kill_lodged`: each stage's competing risks
(:func:`~sim.biology.units.competing_risks_array`), then the systemic therapy's kill of the
cells in each stage. So:

* ``n`` cells that start a window of ``k`` steps in one state end it distributed as one
  multinomial draw over the ``k``-step transition probabilities (the ``k``-th power of the
  one-step matrix): exact, whatever ``k``;
* the units that arrive during the window (arrested by the circulation) are Poisson counts
  with known means; thinned by the probabilities of ending in each state they stay
  independent Poisson counts, one draw per state and place for the whole window;
* a colony's founding is a rare exit: the number founded is part of the draws above and the
  step of each is drawn by inversion of the per-step absorption probabilities.

One coupling between cells is left: an organ's dormant niches (``dormant_niche_capacity``).
While the organ cannot fill within the window (a bound: the cells already dormant, plus
every cell that could enter dormancy, plus a Poisson tail bound on the arrivals), no cell can
be refused and the window's draws are exact. An organ that could fill is stepped one step at
a time, with the exact draws of the daily engine (Poisson arrivals, conditional binomials,
the niche's hypergeometric draw). ``window_steps = 1`` steps every organ that way: the
engine's own daily reference.

What is approximate (named in docs/model-and-evidence.md, "Two engines, one model"):

* the primary loses the cells it sheds as a Poisson count with the right mean, drawn apart
  from the arrivals whose fates are drawn here (in the daily reference the primary loses
  exactly the drawn units): a correlation below 10^-7 of its size; the circulating cells
  of a step and the metastases' share of the arrested cells are likewise drawn apart from
  them;
* the bounds on the niches fail with probability below 10^-20 a window (a Poisson tail ten
  standard deviations out).
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: States of a lodged unit (transient first).
A, S, D, LA, LS, LD, FS, FD = range(8)
N_STATES = 8
#: Tail bound on a Poisson count: mean + TAIL_SD * sqrt(mean) + TAIL_ADD is exceeded with
#: probability below 10^-20 for every mean.
TAIL_SD, TAIL_ADD = 10.0, 50.0


@numba.njit(cache=True)
def one_step_matrix(pa: np.ndarray, ps: np.ndarray, pd: np.ndarray,
                    kill: np.ndarray) -> np.ndarray:
    """The one-step transition probabilities (3 x 8) of one place, from each stage's outcome
    probabilities (arrested ``pa``: extravasated, died, stayed; solitary ``ps``: died,
    dormant, proliferated, stayed; dormant ``pd``: died, woke, stayed) and the systemic
    therapy's kill probability per stage (``kill``; zero without therapy), which acts after
    the step's moves (as :meth:`~sim.engine.clinic.Clinic.kill_lodged`)."""
    kA, kS, kD = kill[0], kill[1], kill[2]
    M = np.zeros((3, N_STATES))
    M[A, A] = pa[2] * (1 - kA)
    M[A, S] = pa[0] * (1 - kS)
    M[A, LA] = pa[1] + pa[2] * kA
    M[A, LS] = pa[0] * kS
    M[S, S] = ps[3] * (1 - kS)
    M[S, D] = ps[1] * (1 - kD)
    M[S, LS] = ps[0] + ps[3] * kS
    M[S, LD] = ps[1] * kD
    M[S, FS] = ps[2]
    M[D, D] = pd[2] * (1 - kD)
    M[D, LD] = pd[0] + pd[2] * kD
    M[D, FD] = pd[1]
    return M


@numba.njit(cache=True)
def k_step_tables(M: np.ndarray, k: int) -> np.ndarray:
    """``P[j, x, y]``: probability that a unit in transient state ``x`` is in state ``y``
    after ``j`` steps, ``j = 0 .. k`` (the powers of the one-step matrix ``M``, 3 x 8).

    Only the twelve transitions a step can make are visited (arrested -> arrested,
    solitary, lost; solitary -> solitary, dormant, lost, founded; dormant -> dormant, lost,
    woken): the chain only moves forward."""
    P = np.zeros((k + 1, 3, N_STATES))
    for x in range(3):
        P[0, x, x] = 1.0
    for j in range(1, k + 1):
        for x in range(3):
            a, s, d = P[j - 1, x, A], P[j - 1, x, S], P[j - 1, x, D]
            for y in range(3, N_STATES):
                P[j, x, y] = P[j - 1, x, y]
            P[j, x, A] = a * M[A, A]
            P[j, x, S] = a * M[A, S] + s * M[S, S]
            P[j, x, D] = s * M[S, D] + d * M[D, D]
            P[j, x, LA] += a * M[A, LA]
            P[j, x, LS] += a * M[A, LS] + s * M[S, LS]
            P[j, x, LD] += s * M[S, LD] + d * M[D, LD]
            P[j, x, FS] += s * M[S, FS]
            P[j, x, FD] += d * M[D, FD]
    return P


@numba.njit(cache=True)
def step_forward(v: np.ndarray, M: np.ndarray) -> None:
    """One step of the chain for the distribution (or mean counts) ``v`` over the eight
    states, in place: the transitions of :func:`k_step_tables`."""
    a, s, d = v[A], v[S], v[D]
    v[A] = a * M[A, A]
    v[S] = a * M[A, S] + s * M[S, S]
    v[D] = s * M[S, D] + d * M[D, D]
    v[LA] += a * M[A, LA]
    v[LS] += a * M[A, LS] + s * M[S, LS]
    v[LD] += s * M[S, LD] + d * M[D, LD]
    v[FS] += s * M[S, FS]
    v[FD] += d * M[D, FD]


@numba.njit(cache=True)
def multinomial(rng: np.random.Generator, n: int, p: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = Multinomial(n, p)`` by conditional binomial draws (``p`` sums to 1)."""
    left = n
    rest = 1.0
    last = len(p) - 1
    while last > 0 and p[last] <= 0.0:
        last -= 1
    for i in range(len(p)):
        out[i] = 0
    for i in range(last + 1):
        if left <= 0:
            break
        if i == last or rest <= p[i]:
            out[i] = left
            left = 0
            break
        if p[i] > 0.0:
            x = rng.binomial(left, min(1.0, p[i] / rest))
            out[i] = x
            left -= x
        rest -= p[i]


@numba.njit(cache=True)
def binomial_split(rng: np.random.Generator, n: int, p: np.ndarray, out: np.ndarray) -> None:
    """:func:`multinomial` for outcome probabilities that may not sum exactly to one."""
    multinomial(rng, n, p / p.sum(), out)


@numba.njit(cache=True)
def poisson(rng: np.random.Generator, mean: float) -> int:
    """A Poisson count (zero for a mean of zero)."""
    return rng.poisson(mean) if mean > 0.0 else 0


@numba.njit(cache=True)
def _log_pmf_hypergeometric(x: int, good: int, bad: int, sample: int) -> float:
    total = good + bad
    return (math.lgamma(good + 1) - math.lgamma(x + 1) - math.lgamma(good - x + 1)
            + math.lgamma(bad + 1) - math.lgamma(sample - x + 1)
            - math.lgamma(bad - sample + x + 1)
            - math.lgamma(total + 1) + math.lgamma(sample + 1)
            + math.lgamma(total - sample + 1))


@numba.njit(cache=True)
def hypergeometric(rng: np.random.Generator, good: int, bad: int, sample: int) -> int:
    """How many of ``sample`` units drawn without replacement from ``good + bad`` are good:
    exact, by inversion of the probabilities enumerated outward from the mode (any fixed
    order of the outcomes is a valid inversion; this one visits the likely ones first, so
    it costs about one standard deviation's worth of steps)."""
    total = good + bad
    if sample <= 0 or good <= 0:
        return 0
    if bad <= 0:
        return min(sample, good)
    if sample >= total:
        return good
    lo = max(0, sample - bad)
    hi = min(sample, good)
    mode = int((sample + 1.0) * (good + 1.0) / (total + 2.0))
    mode = min(max(mode, lo), hi)
    u = rng.random()
    pm = math.exp(_log_pmf_hypergeometric(mode, good, bad, sample))
    acc = pm
    if u < acc:
        return mode
    up, down = mode + 1, mode - 1
    # pmf ratio: p(x + 1) / p(x) = (good - x)(sample - x) / ((x + 1)(bad - sample + x + 1))
    p_up = 0.0
    if up <= hi:
        p_up = pm * (good - mode) * (sample - mode) / ((mode + 1.0) * (bad - sample + mode + 1.0))
    p_down = 0.0
    if down >= lo:
        p_down = pm * mode * (bad - sample + mode) / ((good - mode + 1.0) * (sample - mode + 1.0))
    while up <= hi or down >= lo:
        if down < lo or (up <= hi and p_up >= p_down):
            acc += p_up
            if u < acc:
                return up
            x = up
            up += 1
            p_up = 0.0 if up > hi else \
                p_up * (good - x) * (sample - x) / ((x + 1.0) * (bad - sample + x + 1.0))
        else:
            acc += p_down
            if u < acc:
                return down
            x = down
            down -= 1
            p_down = 0.0 if down < lo else \
                p_down * x * (bad - sample + x) / ((good - x + 1.0) * (sample - x + 1.0))
    return mode          # rounding left u above the summed probabilities (~1e-15)


@numba.njit(cache=True)
def _add_founder(founders: np.ndarray, n_found: int, patient: int, row: int, step: int,
                 origin: int) -> tuple[np.ndarray, int]:
    if n_found >= founders.shape[0]:
        bigger = np.zeros((2 * founders.shape[0] + 16, 4), dtype=np.int64)
        bigger[:n_found] = founders[:n_found]
        founders = bigger
    founders[n_found, 0] = patient
    founders[n_found, 1] = row
    founders[n_found, 2] = step
    founders[n_found, 3] = origin
    return founders, n_found + 1


@numba.njit(cache=True)
def draw_index(rng: np.random.Generator, weights: np.ndarray) -> int:
    """An index drawn with probabilities proportional to ``weights`` (inversion)."""
    total = weights.sum()
    u = rng.random() * total
    acc = 0.0
    for i in range(len(weights)):
        acc += weights[i]
        if u < acc:
            return i
    for i in range(len(weights) - 1, -1, -1):
        if weights[i] > 0.0:
            return i
    return len(weights) - 1


# Ledger columns: cells lost while arrested, solitary, dormant; cells reaching
# extravasation, dormancy; cells arrested (arrivals, after the circulating kill); and the
# arrested units by kind (single cells, clusters).
LOST_ARREST, LOST_EXTRAVASATION, LOST_DORMANCY, REACHED_EXTRAVASATION, REACHED_DORMANCY, \
    ARRESTED_CELLS, ARRESTED_SINGLE, ARRESTED_CLUSTERS = range(8)
LEDGER_COLUMNS = 8


@numba.njit(cache=True)
def _book(ledger: np.ndarray, lodged: np.ndarray, p: int, r: int, x: int, n: int,
          end: np.ndarray, c: int) -> None:
    """Write to the ledger and the lodged counts the end states ``end`` of ``n`` units of
    ``c`` cells each that started the window in stage ``x``: the losses of each stage, the
    extravasations (units that left the arrested stage alive) and the entries into
    dormancy (units that are, died or woke in it)."""
    ledger[p, LOST_ARREST] += end[LA] * c
    ledger[p, LOST_EXTRAVASATION] += end[LS] * c
    ledger[p, LOST_DORMANCY] += end[LD] * c
    if x == A:
        ledger[p, REACHED_EXTRAVASATION] += (n - end[A] - end[LA]) * c
    if x != D:
        ledger[p, REACHED_DORMANCY] += (end[D] + end[LD] + end[FD]) * c
    for y in range(3):
        lodged[y, p, r] += end[y]


@numba.njit(cache=True)
def _window(rng: np.random.Generator, p: int, r: int, t0: int, k: int, lodged: np.ndarray,
            pend: np.ndarray, Mr: np.ndarray, c: int, ledger: np.ndarray, founders: np.ndarray,
            n_found: int, exposure: np.ndarray, organ: int, kind: int, dt: float,
            bin_days: float) -> tuple[np.ndarray, int]:
    """Place ``r`` of patient ``p``: ``k`` steps in one window (the organ cannot fill).

    The k-step probabilities from each stage and the arrivals' mean end states are stepped
    forward without keeping the steps between (``step_forward``); the tables of every step
    (:func:`k_step_tables`) are computed only when a colony was founded, to draw its step.
    """
    end = np.zeros(N_STATES, dtype=np.int64)
    Pk = np.zeros((3, N_STATES))
    arriving = np.zeros(N_STATES)
    arriving[A] = pend[p, 0, r]
    for x in range(3):
        Pk[x, x] = 1.0
    occupied = lodged[A, p, r] + lodged[S, p, r] + lodged[D, p, r] > 0
    for j in range(1, k + 1):
        if occupied:
            for x in range(3):
                step_forward(Pk[x], Mr)
        step_forward(arriving, Mr)
        arriving[A] += pend[p, j, r]
    P = np.zeros((0, 3, N_STATES))
    if exposure.shape[0] > 0:
        mean = np.zeros(3)
        for x in range(3):
            mean[x] = lodged[x, p, r]
        mean[0] += pend[p, 0, r]
        for j in range(1, k + 1):
            b = min(int((t0 + j) * dt // bin_days), exposure.shape[0] - 1)
            exposure[b, p, organ, kind] += mean[1] * Mr[S, FS] + mean[2] * Mr[D, FD]
            new = np.zeros(3)
            for x in range(3):
                for y in range(3):
                    new[y] += mean[x] * Mr[x, y]
            new[0] += pend[p, j, r]
            mean = new
    # the units already lodged: one multinomial per stage over the k-step probabilities
    start = np.zeros(3, dtype=np.int64)
    for x in range(3):
        start[x] = lodged[x, p, r]
    for x in range(3):
        n = start[x]
        if n == 0:
            continue
        multinomial(rng, n, Pk[x], end)
        lodged[x, p, r] -= n
        _book(ledger, lodged, p, r, x, n, end, c)
        for f in (FS, FD):
            if end[f] == 0:
                continue
            if P.shape[0] == 0:
                P = k_step_tables(Mr, k)
            inc = np.zeros(k)
            for j in range(1, k + 1):
                inc[j - 1] = P[j, x, f] - P[j - 1, x, f]
            for _ in range(end[f]):
                step = t0 + 1 + draw_index(rng, inc)
                founders, n_found = _add_founder(founders, n_found, p, r, step, f - FS)
    # the units arriving at steps t0 .. t0 + k: Poisson counts per end state
    arrived = 0
    for y in range(N_STATES):
        end[y] = poisson(rng, arriving[y])
        arrived += end[y]
    if arrived == 0:
        return founders, n_found
    ledger[p, ARRESTED_CELLS] += arrived * c
    ledger[p, ARRESTED_SINGLE + (1 if c > 1 else 0)] += arrived
    _book(ledger, lodged, p, r, A, arrived, end, c)
    for f in (FS, FD):
        if end[f] == 0:
            continue
        if P.shape[0] == 0:
            P = k_step_tables(Mr, k)
        # the arrival step (t0 + s) and the split that founded it (j = 1 .. k - s after it)
        inc = np.zeros((k + 1) * k)
        for s in range(k + 1):
            for j in range(1, k - s + 1):
                inc[s * k + j - 1] = pend[p, s, r] * (P[j, A, f] - P[j - 1, A, f])
        for _ in range(end[f]):
            idx = draw_index(rng, inc)
            step = t0 + idx // k + idx % k + 1
            founders, n_found = _add_founder(founders, n_found, p, r, step, f - FS)
    return founders, n_found


@numba.njit(cache=True)
def _daily(rng: np.random.Generator, p: int, o: int, t0: int, k: int, lodged: np.ndarray,
           pend: np.ndarray, pa: np.ndarray, ps: np.ndarray, pd: np.ndarray, kill: np.ndarray,
           row_organ: np.ndarray, unit_cells: np.ndarray, capacity: int, ledger: np.ndarray,
           founders: np.ndarray, n_found: int, exposure: np.ndarray, dt: float,
           bin_days: float) -> tuple[np.ndarray, int]:
    """The places of organ ``o`` of patient ``p``: ``k`` steps one at a time, as the daily
    engine draws them (the organ's dormant niches may fill)."""
    R = lodged.shape[2]
    split = np.zeros(4, dtype=np.int64)
    moved = np.zeros(R, dtype=np.int64)
    want = np.zeros(R, dtype=np.int64)
    for r in range(R):
        if row_organ[r] == o:
            arrived = poisson(rng, pend[p, 0, r])
            lodged[A, p, r] += arrived
            ledger[p, ARRESTED_CELLS] += arrived * unit_cells[r]
            ledger[p, ARRESTED_SINGLE + (1 if unit_cells[r] > 1 else 0)] += arrived
    for j in range(1, k + 1):
        step = t0 + j
        asleep = 0
        wanting = 0
        for r in range(R):
            if row_organ[r] != o:
                continue
            c = unit_cells[r]
            moved[r] = 0
            want[r] = 0
            if exposure.shape[0] > 0:
                b = min(int(step * dt // bin_days), exposure.shape[0] - 1)
                exposure[b, p, o, 1 if c > 1 else 0] += lodged[S, p, r] * ps[p, r, 2] \
                    + lodged[D, p, r] * pd[p, r, 1]
            n = lodged[A, p, r]
            if n > 0:
                multinomial(rng, n, pa[p, r], split)
                ledger[p, REACHED_EXTRAVASATION] += split[0] * c
                ledger[p, LOST_ARREST] += split[1] * c
                lodged[A, p, r] -= split[0] + split[1]
                moved[r] = split[0]
            n = lodged[S, p, r]
            if n > 0:
                multinomial(rng, n, ps[p, r], split)
                ledger[p, LOST_EXTRAVASATION] += split[0] * c
                lodged[S, p, r] -= split[0] + split[1] + split[2]
                want[r] = split[1]
                wanting += split[1]
                for _ in range(split[2]):
                    founders, n_found = _add_founder(founders, n_found, p, r, step, 0)
            n = lodged[D, p, r]
            if n > 0:
                multinomial(rng, n, pd[p, r], split)
                ledger[p, LOST_DORMANCY] += split[0] * c
                lodged[D, p, r] -= split[0] + split[1]
                for _ in range(split[1]):
                    founders, n_found = _add_founder(founders, n_found, p, r, step, 1)
            asleep += lodged[D, p, r]
        # the niche: the units wanting one in a full organ are a draw without replacement
        if capacity >= 0 and wanting > capacity - asleep:
            free = max(0, capacity - asleep)
            left = wanting
            for r in range(R):
                if row_organ[r] != o or want[r] == 0:
                    continue
                left -= want[r]
                kept = hypergeometric(rng, want[r], left, free) if free > 0 else 0
                ledger[p, LOST_DORMANCY] += (want[r] - kept) * unit_cells[r]
                free -= kept
                want[r] = kept
        for r in range(R):
            if row_organ[r] != o:
                continue
            c = unit_cells[r]
            ledger[p, REACHED_DORMANCY] += want[r] * c
            lodged[S, p, r] += moved[r]
            lodged[D, p, r] += want[r]
            for x, col in ((A, LOST_ARREST), (S, LOST_EXTRAVASATION), (D, LOST_DORMANCY)):
                if kill[p, x] > 0.0 and lodged[x, p, r] > 0:
                    killed = rng.binomial(lodged[x, p, r], kill[p, x])
                    lodged[x, p, r] -= killed
                    ledger[p, col] += killed * c
            arrived = poisson(rng, pend[p, j, r])
            lodged[A, p, r] += arrived
            ledger[p, ARRESTED_CELLS] += arrived * c
            ledger[p, ARRESTED_SINGLE + (1 if c > 1 else 0)] += arrived
    return founders, n_found


@numba.njit(cache=True)
def advance(rng: np.random.Generator, patients: np.ndarray, target: np.ndarray,
            lodged: np.ndarray, lazy_step: np.ndarray, pend: np.ndarray, pa: np.ndarray,
            ps: np.ndarray, pd: np.ndarray, kill: np.ndarray, unit_cells: np.ndarray,
            row_organ: np.ndarray, n_organs: int, capacity: int, window_steps: int,
            ledger: np.ndarray, by_organ: np.ndarray, exposure: np.ndarray, dt: float,
            bin_days: float) -> np.ndarray:
    """Bring the lodged cells of ``patients`` to the end of step ``target[i]``.

    ``lodged[stage, patient, place]``: units, as of the end of step ``lazy_step[patient]``
    without the units arrested in that step; ``pend[patient, s, place]``: the mean number
    of units arrested at step ``lazy_step + s`` (s = 0 .. target - lazy_step), not yet in
    ``lodged``; ``pa``, ``ps``, ``pd``: each stage's outcome probabilities per patient and
    place (:func:`one_step_matrix`); ``kill``: the systemic kill probability per patient
    and stage; ``capacity``: dormant units an organ holds (-1: no limit);
    ``window_steps``: 1 steps every organ one step at a time (the daily reference).

    Adds the cells of each outcome to ``ledger[patient]`` (the columns above) and those
    arrested per organ to ``by_organ``; ``exposure[bin, patient, organ, kind]`` (if it has
    bins) gets the expected colonies founded. Sets ``lazy_step`` to ``target`` and empties
    ``pend``. Returns the founders: rows of (patient, place, step, origin 0 solitary / 1
    dormant), the step being the one in which the colony was founded.
    """
    R = lodged.shape[2]
    if ledger.shape[1] < LEDGER_COLUMNS:
        raise ValueError("the ledger needs LEDGER_COLUMNS columns")
    founders = np.zeros((16, 4), dtype=np.int64)
    n_found = 0
    for i in range(len(patients)):
        p = patients[i]
        t0 = lazy_step[p]
        k = target[i] - t0
        if k < 0:
            continue
        if k == 0:
            # Nothing to step, but the units arrested in step t0 after the state was drawn
            # (its diagnosis comes before they lodge) join the arrested cells now.
            waiting = False
            for r in range(R):
                if pend[p, 0, r] > 0.0:
                    waiting = True
                    break
            if not waiting:
                continue
        daily = np.zeros(n_organs, dtype=np.bool_)
        if window_steps <= 1:
            daily[:] = True
        elif capacity >= 0:
            bound = np.zeros(n_organs)
            mean = np.zeros(n_organs)
            for r in range(R):
                o = row_organ[r]
                bound[o] += lodged[A, p, r] + lodged[S, p, r] + lodged[D, p, r]
                for s in range(k + 1):
                    mean[o] += pend[p, s, r]
            for o in range(n_organs):
                top = bound[o] + mean[o] + TAIL_SD * math.sqrt(mean[o]) + TAIL_ADD
                daily[o] = mean[o] + bound[o] > 0 and top > capacity
        for r in range(R):
            o = row_organ[r]
            if daily[o]:
                continue
            if lodged[A, p, r] + lodged[S, p, r] + lodged[D, p, r] == 0:
                some = False
                for s in range(k + 1):
                    if pend[p, s, r] > 0.0:
                        some = True
                        break
                if not some:
                    continue
            Mr = one_step_matrix(pa[p, r], ps[p, r], pd[p, r], kill[p])
            c = unit_cells[r]
            before = ledger[p, ARRESTED_CELLS]
            founders, n_found = _window(rng, p, r, t0, k, lodged, pend, Mr, c, ledger,
                                        founders, n_found, exposure, o, 1 if c > 1 else 0,
                                        dt, bin_days)
            by_organ[p, o] += ledger[p, ARRESTED_CELLS] - before
        for o in range(n_organs):
            if daily[o]:
                before = ledger[p, ARRESTED_CELLS]
                founders, n_found = _daily(rng, p, o, t0, k, lodged, pend, pa, ps, pd, kill,
                                           row_organ, unit_cells, capacity, ledger, founders,
                                           n_found, exposure, dt, bin_days)
                by_organ[p, o] += ledger[p, ARRESTED_CELLS] - before
        lazy_step[p] = target[i]
        for s in range(k + 1):
            for r in range(R):
                pend[p, s, r] = 0.0
    return founders[:n_found]
