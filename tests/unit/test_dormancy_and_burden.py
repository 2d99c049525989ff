"""Dormancy with limits, shed cells leaving the primary, and the lethal burden: the dormant
niche of an organ never holds more units than its capacity, units that find no niche die at
the dormancy stage (conservation still holds), the primary loses the cells it sheds, and
every tumour cell counts towards the lethal burden."""

from __future__ import annotations

import numpy as np
import pytest

from sim import MetastasisModel
from sim.biology.anatomy import ORGAN_KEYS
from sim.biology.cascade import gompertz
from sim.biology.stages import LODGED_STAGES, Stage
from sim.experiments.seeds import patient_generator

#: Plenty of dormant cells quickly: mouse-like colonisation (tests/data/small.toml) with
#: almost every solitary cell falling dormant.
DORMANT = {"colonization.dormancy_rate_per_day": 50.0,
           "colonization.proliferation_rate_per_day": 0.0,
           "colonization.awakening_rate_per_day": 0.0,
           "population.heterogeneity": False}


def dormant_units_by_organ(model: MetastasisModel) -> np.ndarray:
    out = np.zeros(len(ORGAN_KEYS), dtype=np.int64)
    for c in model.cohorts[Stage.DORMANT]:
        out[c.organ] += c.count
    return out


@pytest.mark.parametrize("aggregate", [True, False])
def test_an_organs_dormant_niche_never_overflows(small_scenario_path, aggregate):
    """With a capacity of 25 units per organ the lungs (where most cells arrest) fill up:
    no organ ever holds more than 25 dormant units, the lungs reach the limit, the cells
    turned away are counted lost at the dormancy stage, and every cell is accounted for."""
    over = {**DORMANT, "colonization.dormant_niche_capacity": 25,
            "simulation.aggregate": aggregate}
    m = MetastasisModel(small_scenario_path, rng=patient_generator(3), overrides=over)
    while m.running:
        m.step()
        assert dormant_units_by_organ(m).max() <= 25
        shed, alive, lost = m.conservation()
        assert shed == alive + lost
    assert dormant_units_by_organ(m)[ORGAN_KEYS.index("lung")] == 25
    unlimited = MetastasisModel(small_scenario_path, rng=patient_generator(3),
                                overrides={**over, "colonization.dormant_niche_capacity": None})
    unlimited.run()
    # Without the limit many more fall asleep; with it, the difference died for want of a
    # niche (same course up to the first full niche: same stream).
    assert dormant_units_by_organ(unlimited).sum() > 25 * 3
    assert m.ledger.stage_counts("lost")["dormancy"] > \
        unlimited.ledger.stage_counts("lost")["dormancy"]


def test_shed_cells_leave_the_primary(small_scenario_path):
    """After one step the primary holds its Gompertz growth of the cells it had, minus the
    cells it shed in that step (shed before growing)."""
    over = {"primary.shedding_rate_per_gram_per_day": 1e8, "population.heterogeneity": False}
    m = MetastasisModel(small_scenario_path, rng=patient_generator(1), overrides=over)
    before = m.primary.cells
    m.step()
    shed = m.ledger.shed_total
    assert shed > 1000
    expected = gompertz(before - shed, m.primary.gompertz_rate_per_day,
                        m.primary.carrying_capacity_cells, m.dt)
    assert m.primary.cells == pytest.approx(expected, rel=1e-9)


def test_the_lethal_burden_counts_every_tumour_cell(small_scenario_path):
    """Primary, colonies and lodged cells (arrested, solitary, dormant) make the burden; a
    lethal burden just above the primary alone ends the course once lodged cells add to it."""
    m = MetastasisModel(small_scenario_path, rng=patient_generator(2),
                        overrides={**DORMANT})
    for _ in range(10):
        m.step()
    lodged = sum(m.cohorts.cells_at(s) for s in LODGED_STAGES)
    assert lodged > 0
    assert m.tumour_burden_cells() == pytest.approx(
        m.primary.cells + m.colonies.burden_cells() + lodged)


def test_niche_draws_beyond_numpys_limit_keep_the_counts():
    """With more than 10^9 candidates for the free niches (a heavily shedding primary),
    the draw still gives exactly the free number of niches, never more units of a group
    than it has, and shares close to the groups' shares (3e9 vs 1e9 candidates for 10^6
    niches: 750,000 +- 433 in the first group; 10 standard deviations: false-failure rate
    ~1e-23)."""
    from sim.engine.cohorts import draw_without_replacement

    rng = np.random.default_rng(5)
    kept = draw_without_replacement(rng, np.array([3 * 10**9, 10**9], dtype=np.int64), 10**6)
    assert kept.sum() == 10**6 and (kept <= [3 * 10**9, 10**9]).all()
    assert abs(kept[0] - 750_000) < 10 * 433
    small = draw_without_replacement(rng, np.array([3, 1], dtype=np.int64), 4)
    assert small.tolist() == [3, 1]
