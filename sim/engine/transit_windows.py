"""Shedding and transit of a batch's patients in one compiled pass a step.

The population engine's step sends the units shed by each patient's primary and
macrometastases through invasion, route entry and transit (the circulation chain's
absorption probabilities, computed once per scenario). Per *group* - one kind of unit
(single cell or cluster) of one subclone from one source (the primary, or the
macrometastases of one entry route) - the mean units shed this step are known, and each unit
independently arrests in a place or meets another fate, so by the splitting property of the
Poisson distribution every outcome is an independent Poisson count. :func:`group_means`
gives the means per patient and group (both of the engine's ways use it);
:func:`windowed_transit` turns them into what the event-to-event engine needs: the mean
units arresting in each place (drawn later with their fates), the draws of the units that
did not arrest, and the Poisson count of arresting units by which the primary shrinks.
"""

from __future__ import annotations

import numba
import numpy as np

from .lodged_windows import poisson


@numba.njit(cache=True)
def group_means(rows: np.ndarray, n: int, primary_events: np.ndarray, clone_weights: np.ndarray,
                cluster_fraction: float, colony_row: np.ndarray, colony_group: np.ndarray,
                colony_events: np.ndarray, primary_group: np.ndarray,
                n_groups: int) -> np.ndarray:
    """Mean units shed this step per patient and group ``(n, groups)``.

    ``primary_events[p]``: shedding events of patient ``p``'s primary
    (:func:`~sim.biology.cascade.shedding_events`), split among subclones by
    ``clone_weights`` and between single cells and clusters by ``cluster_fraction``;
    ``colony_events[i]``: those of macrometastasis ``i`` (patient ``colony_row[i]``), whose
    single cells go to group ``colony_group[i]`` and clusters to the next one;
    ``primary_group[clone, kind]``: the primary's groups."""
    lam = np.zeros((n, n_groups))
    f = cluster_fraction
    for i in range(len(rows)):
        p = rows[i]
        for c in range(len(clone_weights)):
            ev = primary_events[p] * clone_weights[c]
            lam[p, primary_group[c, 0]] += ev * (1.0 - f)
            lam[p, primary_group[c, 1]] += ev * f
    for i in range(len(colony_row)):
        p = colony_row[i]
        lam[p, colony_group[i]] += colony_events[i] * (1.0 - f)
        lam[p, colony_group[i] + 1] += colony_events[i] * f
    return lam


@numba.njit(cache=True)
def windowed_transit(rng: np.random.Generator, rows: np.ndarray, lam: np.ndarray,
                     arrest: np.ndarray, group_places: np.ndarray, venous_units: np.ndarray,
                     nonlodging: np.ndarray, group_cells: np.ndarray, n_primary_groups: int,
                     mean_out: np.ndarray, venous_out: np.ndarray, met_units_out: np.ndarray,
                     all_units_out: np.ndarray, nl_out: np.ndarray,
                     lodging_cells_out: np.ndarray) -> None:
    """One step of transit for ``rows``, from the group means ``lam`` (:func:`group_means`).

    ``arrest[g, place]``: probability that a unit of group ``g`` arrests in the place (by
    any route), nonzero only at ``group_places[g]``; ``venous_units[g]``: that it arrests
    there by the blood; ``nonlodging[g]``: that it meets any other fate; ``group_cells[g]``:
    its cells. Writes, per patient: ``mean_out[p, place]`` the mean units arresting;
    ``venous_out[p, kind]`` the mean that came by the blood (for the circulating cells);
    ``met_units_out[p, kind]`` and ``all_units_out[p, kind]`` the mean units arresting from
    metastases and from all sources; ``nl_out[g, p]`` the drawn units that did not arrest;
    ``lodging_cells_out[p, source]`` (0 primary, 1 metastases) the drawn cells of a Poisson
    count with the mean of the arresting units (the primary's loss)."""
    for i in range(len(rows)):
        p = rows[i]
        for g in range(lam.shape[1]):
            m = lam[p, g]
            if m <= 0.0:
                continue
            kind = 1 if group_cells[g] > 1 else 0
            units = 0.0
            for j in range(group_places.shape[1]):
                r = group_places[g, j]
                a = m * arrest[g, r]
                mean_out[p, r] += a
                units += a
            all_units_out[p, kind] += units
            if g >= n_primary_groups:
                met_units_out[p, kind] += units
            venous_out[p, kind] += m * venous_units[g]
            nl_out[g, p] = poisson(rng, m * nonlodging[g])
            source = 0 if g < n_primary_groups else 1
            lodging_cells_out[p, source] += poisson(rng, units) * group_cells[g]
