"""What a simulated patient leaves behind, as plain data: :class:`PatientResult`.

A leaf module: it imports neither Mesa nor the engine, so analysis, figures, the output folder
and the app can read results without importing the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PatientResult:
    """What one simulated patient leaves behind (plain data, picklable)."""

    replicate: int
    days: float
    died: bool
    reached: dict[str, int]
    lost: dict[str, int]
    lost_in_transit_by_route: dict[str, int]
    detectable_by_organ: dict[str, int]
    #: Metastases per organ at the end of the course at or above the autopsy threshold.
    autopsy_by_organ: dict[str, int]
    #: Colonies founded in each organ over the course (including those that died out).
    founded_by_organ: dict[str, int]
    colonies_by_organ: dict[str, int]
    first_detectable_day: float | None
    shed_total: int
    shed_by_metastases: int
    colonies_founded: dict[str, int]
    colonies_survived: dict[str, int]
    timeseries: list[tuple[float, str, str, float]] = field(default_factory=list)
    injected_total: int = 0
    assay: list[dict[str, float]] = field(default_factory=list)
    #: State when the primary reached its diagnosis size (None: it never did).
    diagnosis: dict[str, float] | None = None
    #: The clinical timeline: {day, event, organ, detail} in order (sim.engine.clinic).
    events: list[dict] = field(default_factory=list)
    resection_day: float | None = None
    #: First day with a detectable metastasis after the resection (None: none by the end).
    relapse_day: float | None = None
    #: Where the first relapsing metastasis came from ("solitary" / "dormant") and when it
    #: was founded.
    relapse_origin: str | None = None
    relapse_founded_day: float | None = None
