"""The factorial trial's cost: one fit of each kind, and how it grows with the rows.

Usage: ``python -m benchmarks.factorial``. Synthetic rows of the real trial's size (20
organs, 400 autopsies, a bank of 32 draws of Ewing's inputs; no simulation), so the figures
are the statistics' alone. Prints, as JSON: seconds per Gibbs fit (600 draws after 300 of
burn-in) for a model without soil terms, with a shared organ term, with seed-specific
scatter and with both, on 4, 8 and 16 rows; each as a ratio to the 4-row fit without soil
terms timed in the same run (the baseline); and the seconds per site evidence. The trial
itself (``metasim factorial``, 16 rows) makes 3 x 15 leave-one-out fits and 8 x 5 k-fold
fits plus 8 x 16 evidences; its wall time on 2 cores is in benchmarks/README.md.
"""

from __future__ import annotations

import json
import time

import numpy as np

from sim.experiments.factorial import CELLS, Cell, Row, fit, row_evidence
from sim.experiments.soil_model import A_GRID

ORGANS, PATIENTS, BANK = 20, 400, 32


def rows(n: int, seed: int = 0) -> list[Row]:
    rng = np.random.default_rng(seed)
    organs = [f"o{j}" for j in range(ORGANS)]
    out = []
    for p in range(n):
        weights = rng.lognormal(0, 0.8, 100)
        lam = {"anatomical": rng.dirichlet(np.full(ORGANS, 0.5)) * 10,
               "uniform": np.ones(ORGANS)}
        freq = {d: -np.expm1(-np.exp(A_GRID)[None, :, None] * v[:, None, None]
                             * weights[None, None, :]).mean(axis=-1) for d, v in lam.items()}
        bank = {d: np.vstack([np.zeros(ORGANS), rng.normal(0, 0.5, (BANK - 1, ORGANS))])
                for d in freq}
        a = rng.normal(-1.5, 0.7) + rng.normal(0, 1.0, ORGANS)
        f = np.array([np.interp(a[o], A_GRID, freq["uniform"][o]) for o in range(ORGANS)])
        out.append(Row(f"p{p}", organs, rng.binomial(PATIENTS, f), PATIENTS, freq, bank,
                       -1.5, 1.0))
    return out


def timed(cell: Cell, data: list[Row]) -> float:
    t0 = time.perf_counter()
    fit(data, cell, np.random.default_rng(1), draws=600, burn=300)
    return time.perf_counter() - t0


def main() -> dict:
    kinds = {"no soil term": CELLS[4], "shared organ term": CELLS[6],
             "seed-specific": CELLS[5], "both": CELLS[7]}
    base = timed(kinds["no soil term"], rows(4))
    out: dict = {"baseline_s (4 rows, no soil term)": round(base, 2), "fits": {}}
    for name, cell in kinds.items():
        for n in (4, 8, 16):
            s = timed(cell, rows(n))
            out["fits"][f"{name}, {n} rows"] = {"seconds": round(s, 2),
                                                "ratio_to_baseline": round(s / base, 2)}
    data = rows(16)
    post = fit(data[1:], CELLS[7], np.random.default_rng(2), draws=600, burn=300)
    t0 = time.perf_counter()
    row_evidence(data[0], CELLS[7], post, rng=np.random.default_rng(3))
    out["evidence_s (both terms, 64 draws)"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
