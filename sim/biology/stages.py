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

#: What happens at each funnel stage, in plain words (the classroom app).
STAGE_EXPLANATIONS: dict[str, str] = {
    "detachment": "Cells let go of their neighbours and leave the tumour, alone or in small "
                  "clumps. A tumour of one gram sheds about ten thousand cells a day.",
    "invasion": "To reach a vessel, a cell must cut through the wall around the tumour. "
                "Many die trying.",
    "transit": "In the blood or lymph, cells are battered by flow and attacked by immune "
               "cells. Most are soon held in the first small vessels they meet; those that "
               "keep circulating die within hours. The funnel's % column shows how many "
               "survived the trip in this patient.",
    "arrest": "Survivors get stuck in the first narrow capillaries they meet: the lungs for "
              "most organs, the liver for the gut (its blood goes through the portal vein).",
    "extravasation": "A stuck cell squeezes out of the vessel into the organ. In experiments "
                     "most cells manage it (Luzzi 1998); in this patient, see the % column: "
                     "cells still waiting in the vessel count as not yet through.",
    "dormancy": "Out in a foreign organ, most cells die. Some fall asleep (dormancy) and can "
                "wait there for years.",
    "micrometastasis": "A few cells start to divide. Most of these tiny colonies still die out.",
    "macrometastasis": "A colony that recruits its own blood vessels (the angiogenic switch) "
                       "can grow into a metastasis you can see on a scan.",
}

__all__ = ["FUNNEL_INDEX", "FUNNEL_STAGES", "LODGED_STAGES", "STAGE_EXPLANATIONS",
           "STAGE_LABELS", "Phase", "Stage"]
