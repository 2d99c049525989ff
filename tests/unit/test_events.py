"""The clinical timeline's texts are written once (sim.engine.events) and both engines log
through them: events.csv reads the same whichever engine ran the patient."""

from __future__ import annotations

import ast
from pathlib import Path

from sim.biology.anatomy import ORGAN_KEYS
from sim.config.schema import Intervention
from sim.engine import events

ENGINE = Path(__file__).resolve().parents[2] / "sim" / "engine"


def test_each_event_reads_as_documented():
    """The texts users and the app's plain sentences rely on (events.csv)."""
    surgery = Intervention(kind="resection", at="diagnosis", name="surgery")
    chemo = Intervention(kind="systemic", at="diagnosis", duration_days=180.0)
    liver = ORGAN_KEYS.index("liver")
    assert events.resection(surgery, 2.5e9) == ("resection", "", "surgery: 2.5e+09 cells, "
                                                                 "100% removed")
    assert events.intervention_start(chemo) == ("systemic_start", "", "systemic for 180 days")
    assert events.intervention_end(chemo) == ("systemic_end", "", "systemic")
    assert events.relapse(liver, 400.0, 12.0, "dormant") == (
        "relapse", "liver", "400 days after resection; the colony was founded on day 12 by a "
                            "dormant cell")
    assert events.metastasis_detected(liver, 6.5e7, 5.0) == (
        "metastasis_detected", "liver", "6.5e+07 cells (>= 5 mm)")
    assert events.death(1e12) == ("death", "", "tumour burden 1e+12 cells")
    assert events.diagnosis(1e9).detail == "primary 12.4 mm"
    assert events.symptoms(liver).organ == "liver" and events.symptoms(liver).detail


def _logged_literals(path: Path) -> list[str]:
    """Texts passed as string literals or f-strings to a log call (``log(day, "name", ...)``,
    ``detail=f"..."``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("log", "_log"):
            values = [*node.args, *(k.value for k in node.keywords)]
            found += [f"line {node.lineno}: {a.value!r}" for a in values
                      if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            found += [f"line {node.lineno}: f-string" for a in values
                      if isinstance(a, ast.JoinedStr)]
    return found


def test_no_engine_writes_an_event_text_of_its_own():
    """Both engines restated the same f-strings (the clinic and the population engine); any
    event text written outside sim.engine.events would drift from the other engine's."""
    offenders = {p.name: _logged_literals(p) for p in ENGINE.glob("*.py")
                 if p.name != "events.py"}
    assert not any(offenders.values()), offenders


def test_the_literal_check_would_catch_an_event_text(tmp_path):
    """A control for the check above."""
    bad = tmp_path / "bad.py"
    bad.write_text('def f(self, day):\n    self._log(0, day, "death", detail=f"x {day}")\n')
    assert len(_logged_literals(bad)) == 2
