"""Golden outputs: a restructuring must not change a single number.

A few scenarios (presets, a classroom comparison, a treatment and an injection experiment)
are run with fixed seeds and their ``summary.json`` compared field by field with the copy
kept in ``tests/data/golden/``. Integers (cell counts, patients) must match exactly; floats
to a relative 1e-9 (room for a different order of summation, nothing more). A change that
is meant to change results regenerates the files on purpose and says why in its commit:

    python -m tests.integration.test_golden          # rewrites tests/data/golden/*.json

which prints, for each file, what changed (the fields, old -> new), so that a change meant
for one engine shows whether it moved the other's numbers too.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"

#: name -> (scenario, overrides, hypotheses or None for one run, replicates, seed)
CASES: dict[str, tuple[str, list[str], list[str] | None, int, int]] = {
    "breast": ("presets/breast", [], None, 3, 11),
    # The same course with each engine's other ways: the Mesa model (the per-cell
    # reference) and the population engine's daily reference (no windows).
    "breast_mesa": ("presets/breast", ["simulation.engine=mesa", "simulation.horizon_days=730"],
                    None, 2, 11),
    "breast_daily": ("presets/breast", ["population.daily_steps=true",
                                        "simulation.horizon_days=730"], None, 3, 11),
    "colon": ("presets/colon", [], None, 3, 12),
    "prostate_ewing": ("presets/prostate", ["hypothesis=ewing"], None, 2, 13),
    "demo_compare": ("classroom/demo", [], ["ewing", "paget", "combined"], 3, 14),
    "breast_resection": ("clinical/breast_resection_at_diagnosis", [], None, 4, 15),
    "luzzi": ("experiments/luzzi_liver_assay", [], None, 2, 16),
}


def produce(name: str) -> dict[str, Any]:
    """The summary (or the per-hypothesis summaries) of one golden case, as JSON data."""
    from sim.config.loading import load_scenario
    from sim.experiments.replicates import compare, run_replicates
    from sim.io.outputs import summary

    scenario, overrides, hyps, replicates, seed = CASES[name]
    sc = load_scenario(scenario, overrides)
    if hyps is None:
        data: Any = summary(run_replicates(sc, replicates, seed, progress=False))
    else:
        runs = compare(sc, hyps, replicates, seed, progress=False)
        data = {h: summary(r) for h, r in runs.items()}
    return json.loads(json.dumps(data, allow_nan=True, default=_plain))


def _plain(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(type(x).__name__)


def differences(expected: Any, got: Any, path: str = "") -> list[str]:
    """Every place where ``got`` differs from ``expected`` (dotted paths)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing" for k in expected if k not in got]
        out += [f"{path}.{k}: new" for k in got if k not in expected]
        for k in expected:
            if k in got:
                out += differences(expected[k], got[k], f"{path}.{k}")
        return out
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{path}: {len(expected)} items, now {len(got)}"]
        return [d for i, (a, b) in enumerate(zip(expected, got, strict=True))
                for d in differences(a, b, f"{path}[{i}]")]
    if isinstance(expected, float) or isinstance(got, float):
        if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
            if (math.isnan(expected) and math.isnan(got)) or \
                    math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-12):
                return []
        return [f"{path}: {expected!r} -> {got!r}"]
    return [] if expected == got else [f"{path}: {expected!r} -> {got!r}"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_summary_matches_the_golden_copy(name):
    """Same scenario and seed give the same summary.json as the stored golden copy."""
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    diffs = differences(expected, produce(name))
    assert not diffs, f"{len(diffs)} field(s) differ:\n" + "\n".join(diffs[:30])


def test_the_comparison_finds_a_changed_number():
    """The comparison itself is strict: one count off, a float off by 1e-6, a missing key
    or a changed string are all reported."""
    base = {"a": 1, "b": [1.0, 2.0], "c": {"d": "x"}}
    assert differences(base, base) == []
    assert differences(base, {"a": 2, "b": [1.0, 2.0], "c": {"d": "x"}}) == [".a: 1 -> 2"]
    assert differences(base, {"a": 1, "b": [1.0, 2.000002], "c": {"d": "x"}})
    assert differences(base, {"a": 1, "b": [1.0, 2.0], "c": {}}) == [".c.d: missing"]
    assert differences(base, {"a": 1, "b": [1.0, 2.0], "c": {"d": "y"}})


def main(names: list[str]) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in names or list(CASES):
        path = GOLDEN / f"{name}.json"
        new = produce(name)
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        path.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if old is None:
            print(f"{path.name}: new file")
            continue
        diffs = differences(old, new)
        print(f"{path.name}: " + (f"{len(diffs)} field(s) changed" if diffs else "unchanged"))
        for line in diffs[:40]:
            print(f"  {line}")
        if len(diffs) > 40:
            print(f"  ... and {len(diffs) - 40} more")


if __name__ == "__main__":
    main(sys.argv[1:])
