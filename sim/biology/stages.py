"""The stages of the metastatic cascade: their names, their order, and what they mean in
plain words. Figures, the classroom app, the command line and the output tables all take
their stage names and labels from here.
"""

from __future__ import annotations

from enum import Enum


class Stage(Enum):
    """Where the cells of a cohort are in the cascade."""

    DETACHED = "detached"      # just shed; resolved through invasion and transit in-step
    ARRESTED = "arrested"      # lodged in a capillary, node or serosa, not yet extravasated
    SOLITARY = "solitary"      # a single extravasated cell in the tissue
    DORMANT = "dormant"        # a quiescent single cell

    # Members are singletons: identity hashing (in C) instead of Enum's hash of the name.
    # Cohort keys containing a stage are hashed a few hundred times per step.
    __hash__ = object.__hash__


#: The stages where cells wait in an organ between steps (the lodged stages).
LODGED_STAGES: tuple[Stage, ...] = (Stage.ARRESTED, Stage.SOLITARY, Stage.DORMANT)


class Phase(Enum):
    """Growth phase of a colony."""

    MICRO = "micrometastasis"          # avascular, birth-death, may die out
    AVASCULAR_LIMIT = "angiogenic dormancy"  # at the diffusion limit, waiting for vessels
    MACRO = "macrometastasis"          # vascularised, Gompertz growth, sheds cells


#: Funnel stages in cascade order. "reached" counts cells entering the stage, "lost" cells
#: that died there.
FUNNEL_STAGES: tuple[str, ...] = ("detachment", "invasion", "transit", "arrest",
                                  "extravasation", "dormancy", "micrometastasis",
                                  "macrometastasis")
#: Position of each funnel stage in :data:`FUNNEL_STAGES`.
FUNNEL_INDEX: dict[str, int] = {s: i for i, s in enumerate(FUNNEL_STAGES)}

#: Short label of each funnel stage, for figures and tables.
STAGE_LABELS: dict[str, str] = {
    "detachment": "shed from the tumour", "invasion": "invading the stroma",
    "transit": "in transit (blood, lymph, cavity)", "arrest": "arrested in an organ",
    "extravasation": "extravasated (solitary)", "dormancy": "dormant",
    "micrometastasis": "founded a micrometastasis",
    "macrometastasis": "angiogenic switch (macro)",
}

#: What happens at each funnel stage, in plain words (for the app and ``metasim params``).
STAGE_EXPLANATIONS: dict[str, str] = {
    "detachment": "Cells break away from the primary tumour.",
    "invasion": "They push through the tissue around the tumour (the stroma) into a blood "
                "vessel, a lymph vessel or a body cavity.",
    "transit": "They travel in the blood, the lymph or the cavity fluid; most die on the way.",
    "arrest": "A cell gets stuck in the small vessels of an organ, a lymph node or on a "
              "cavity's lining.",
    "extravasation": "It squeezes out of the vessel into the organ's tissue, where it sits "
                     "alone.",
    "dormancy": "Many such cells fall asleep: alive, not dividing, sometimes for years.",
    "micrometastasis": "A cell starts dividing and founds a tiny colony, too small to see.",
    "macrometastasis": "The colony grows its own blood vessels (the angiogenic switch) and "
                       "can grow into a metastasis a scan can find.",
}

__all__ = ["FUNNEL_INDEX", "FUNNEL_STAGES", "LODGED_STAGES", "STAGE_EXPLANATIONS",
           "STAGE_LABELS", "Phase", "Stage"]
