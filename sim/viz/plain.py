"""Plain words for the classroom: numbers ("2.6 trillion", not 2.6e12), durations ("1 year 3
months", not day 455), events and hypotheses as sentences, and a glossary of the words a
16-year-old meets in the app (stroma, CTC, extravasation, dormancy, angiogenesis).

Organ names come from :data:`sim.viz.body_svg.PLAIN_ORGAN_NAMES`, the names the body map
writes beside each organ, so the map, the tables and the timeline say the same thing.
"""

from __future__ import annotations

import math

from ..biology.stages import FUNNEL_STAGES
from .body_svg import PLAIN_ORGAN_NAMES

_SCALES = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand"))


def plain_number(x: float) -> str:
    """A count in words with two significant figures: 2.6e12 -> "2.6 trillion", 45000 ->
    "45 thousand", 950 -> "950", 0 -> "0". Counts below a thousand are written out whole."""
    if not math.isfinite(x):
        return "-"
    if x < 0:
        return "minus " + plain_number(-x)
    for scale, word in _SCALES:
        if x >= scale * 0.9995:
            v = x / scale
            if v >= 1000:  # beyond "999 trillion": say it in trillions anyway
                return f"{v:,.0f} {word}"
            # Two significant figures; from 99.5 on that rounds to 100, which "%.2g" writes
            # as "1e+02".
            text = f"{v:.2g}" if v < 99.5 else f"{v:.0f}"
            return f"{text} {word}"
    return f"{x:,.0f}"


def plain_duration(days: float) -> str:
    """Time since the start in years and months: 0 -> "the start", 20 -> "3 weeks",
    455 -> "1 year 3 months", 730 -> "2 years". A month is 30.44 days."""
    if days < 0.5:
        return "the start"
    if days < 30.44:
        weeks = round(days / 7)
        if weeks < 1:
            d = round(days)
            return f"{d} day{'s' if d != 1 else ''}"
        return f"{weeks} week{'s' if weeks != 1 else ''}"
    months = round(days / 30.44)
    years, months = divmod(months, 12)
    parts = []
    if years:
        parts.append(f"{years} year{'s' if years != 1 else ''}")
    if months:
        parts.append(f"{months} month{'s' if months != 1 else ''}")
    return " ".join(parts)


def plain_hours(hours: float) -> str:
    """A short time in words: 0.0019 -> "7 seconds", 0.5 -> "30 minutes", 1.7 -> "1.7 hours"."""
    if hours * 60 < 1:
        s = round(hours * 3600)
        return f"{s} second{'s' if s != 1 else ''}"
    if hours < 1:
        m = round(hours * 60)
        return f"{m} minute{'s' if m != 1 else ''}"
    return f"{hours:.2g} hour{'s' if hours != 1 else ''}"


def organ_name(organ: str) -> str:
    """An organ's plain name ("regional_lymph_nodes" -> "Nearby lymph nodes"); an unknown
    key is written in words."""
    return PLAIN_ORGAN_NAMES.get(organ, organ.replace("_", " ").capitalize())


#: The hypotheses as a class calls them.
HYPOTHESIS_NAMES: dict[str, str] = {
    "ewing": "Ewing (blood flow)", "paget": "Paget (seed and soil)",
    "combined": "Combined (today's view)", "null": "Neither (chance)",
}

#: What each event of a course means, in a sentence (``{organ}`` is the organ's plain name).
EVENT_TEXT: dict[str, str] = {
    "diagnosis": "The tumour is found (diagnosis).",
    "diagnosis_untreated": "The tumour is found (diagnosis). In this story it is not treated, "
                           "to show how cancer spreads.",
    "metastasis_detected": "A metastasis in the {organ} is big enough to see on a scan.",
    "relapse": "Relapse: the cancer is back, in the {organ}.",
    "symptoms": "The metastases in the {organ} start to cause symptoms.",
    "resection": "Surgery removes the primary tumour.",
    "local_therapy": "Local treatment of the metastases in the {organ}.",
    "death": "The patient dies: the tumours have grown too large.",
    "death_organ": "The patient dies: the tumour in the {organ} stops it working.",
    "chemotherapy_start": "Chemotherapy starts.", "chemotherapy_end": "Chemotherapy ends.",
    "systemic_start": "Treatment of the whole body starts.",
    "systemic_end": "Treatment of the whole body ends.",
}


def death_words(cause: str | None, short: bool = False) -> str:
    """Why a patient died, in a few plain words (``cause``: a result's ``cause_of_death``;
    ``short``: for an axis label); empty for a patient alive."""
    if cause is None:
        return ""
    if cause == "whole_body_burden":
        return "tumours too large" if short else "the tumours grew too large"
    organ = organ_name(cause).lower()
    return f"{organ} failed" if short else f"the tumour in the {organ} stopped it working"


def event_sentence(event: str, organ: str = "") -> str:
    """One event of a course as a sentence; an event without a sentence of its own is written
    in words."""
    name = organ_name(organ).lower() if organ else "body"
    if event == "death" and organ:
        event = "death_organ"
    if event in EVENT_TEXT:
        return EVENT_TEXT[event].format(organ=name)
    if event.endswith("_start"):
        return f"{event.removesuffix('_start').replace('_', ' ').capitalize()} starts."
    if event.endswith("_end"):
        return f"{event.removesuffix('_end').replace('_', ' ').capitalize()} ends."
    return event.replace("_", " ").capitalize() + (f" ({name})" if organ else "") + "."


#: The cascade's steps in plain words (the funnel's rows).
STEP_NAMES: dict[str, str] = {
    "detachment": "Left the tumour", "invasion": "Broke through the tissue",
    "transit": "Travelled in blood or lymph", "arrest": "Got stuck in a small vessel",
    "extravasation": "Squeezed out into the organ", "dormancy": "Fell asleep (dormant)",
    "micrometastasis": "Started a tiny colony", "macrometastasis": "Grew its own blood vessels",
}
assert set(STEP_NAMES) == set(FUNNEL_STAGES)

#: Words a student meets in the app, explained.
GLOSSARY: dict[str, str] = {
    "Primary tumour": "The tumour where the cancer started (the star on the map).",
    "Metastasis": "A new tumour grown from cells that travelled from the primary tumour to "
                  "another organ.",
    "Stroma": "The supporting tissue around a tumour: fibres and small vessels. A cell must "
              "break through it to reach a blood or lymph vessel.",
    "CTC (circulating tumour cell)": "A tumour cell travelling in the blood. Most are held "
                                     "in the first small vessels they meet, or die, within "
                                     "hours.",
    "Half-life": "The time in which half of something is gone: with a half-life of 2 hours, "
                 "half the cells in the blood are left after 2 hours, a quarter after 4.",
    "Portal vein": "The vein that carries blood from the gut to the liver: cells shed by a gut "
                   "tumour meet the liver first.",
    "Caval veins": "The big veins that bring blood from the body back to the heart, which "
                   "pumps it to the lungs first.",
    "Batson's veins": "A network of veins along the spine without valves: cells from the "
                      "pelvis (prostate) can reach the spine directly.",
    "Resection": "Surgery that removes the tumour.",
    "Hypothesis": "An idea that can be tested: here, an idea of why cancers spread where they "
                  "do.",
    "Lymph nodes": "Small filters along the lymph vessels. Tumour cells often stop there "
                   "first.",
    "Extravasation": "A cell stuck in a small blood vessel squeezes through the vessel wall "
                     "into the organ.",
    "Dormancy": "A cell that has arrived in an organ but neither grows nor dies: it sleeps, "
                "sometimes for years.",
    "Angiogenesis": "Growing new blood vessels. A colony needs its own vessels to grow beyond "
                    "about a millimetre.",
    "Seed and soil": "Paget's idea (1889): a cancer (the seed) grows only in organs that "
                     "suit it (the soil).",
    "Anatomical hypothesis": "Ewing's idea (1928): cells grow where the blood carries them "
                             "first, so the plumbing decides.",
    "Untreated": "The presets follow a cancer that is found but not treated, to show how it "
                 "spreads; the stories add surgery and treatment.",
    "Autopsy": "An examination after death. Large autopsy studies counted where metastases "
               "were found; the app compares with them.",
    "Log scale": "A scale where each step is ten times the one before: 1, 10, 100, 1 thousand "
                 "... It lets a few cells and billions of cells share one picture.",
}
