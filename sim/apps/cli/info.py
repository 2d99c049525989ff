"""``metasim params``, ``scenarios`` and ``reference``: what metasim knows, printed."""

from __future__ import annotations

import click

from .common import Fail, guard, hypothesis_opt, load, scenario_arg, set_opt


@click.command(name="params")
@scenario_arg
@hypothesis_opt
@set_opt
@click.option("--changed", is_flag=True, help="Only the keys that differ from the defaults.")
@click.option("--json", "as_json", is_flag=True, help="As JSON (key, value, default, unit, "
                                                      "allowed, source).")
@guard
def params_cmd(scenario: str, hypothesis: str | None, overrides: tuple[str, ...], changed: bool,
               as_json: bool) -> None:
    """Every parameter of SCENARIO: value, default, unit, allowed range and source."""
    import json

    from ...config.params import as_records, format_table, parameters

    sc = load(scenario, overrides, None, None, hypothesis)
    rows = parameters(sc)
    if as_json:
        click.echo(json.dumps(as_records([r for r in rows if r.changed or not changed]),
                              indent=2, default=str))
        return
    click.echo(f"# {scenario}: {sc.description.strip().splitlines()[0] if sc.description else ''}")
    click.echo(format_table(rows, changed_only=changed))


@click.command()
def scenarios() -> None:
    """List the bundled scenarios with a one-line description."""
    from ...biology.anatomy import PRIMARY_SITES
    from ...config.bundled import list_scenarios

    rows = list_scenarios()
    exps = list_scenarios(experiments=True)
    width = max(len(n) for n, _ in rows + exps)
    for name, desc in rows:
        click.echo(f"{name:<{width}}  {desc}")
    if exps:
        click.echo("\nExperiment files (metasim sweep / sensitivity):")
        for name, desc in exps:
            click.echo(f"{name:<{width}}  {desc}")
    click.echo(f"\nPrimary sites: {', '.join(PRIMARY_SITES)}")


@click.command()
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="List the tables with their citations.")
def reference(name: str | None, list_: bool) -> None:
    """Print a published reference table (NAME) or list them all (--list)."""
    from ...biology.reference import TABLES, describe

    if list_ or name is None:
        for key, citation in TABLES.items():
            click.echo(f"{key}\n    {citation}")
        return
    if name not in TABLES:
        raise Fail(f"unknown reference table {name!r}; allowed: {', '.join(TABLES)}")
    click.echo(describe(name))
