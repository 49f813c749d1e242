"""``gridflex evaluate``: power-system flexibility of a study (Guo, Li, Deng 2025)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridflex.cli.common import _progress, clear_errors, console


@clear_errors
def evaluate(
    study: Annotated[Path, typer.Argument(help="Study file (YAML or JSON; docs/evaluation.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("evaluation"),
    scenarios: Annotated[int, typer.Option(help="Number of scenarios.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the scenarios.")] = 0,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://HOST:PORT); default: local processes.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes (default: all CPUs).")] = None,
) -> None:
    """Balance score (3 states), storage sensitivity and available flexible capacity of a network."""
    from gridflex.errors import Problem as _Problem
    from gridflex.errors import ValidationError as _ValidationError
    from gridflex.grid.evaluation import evaluate as run_evaluation
    from gridflex.grid.study import load_study
    from gridflex.parallel import runner
    from gridflex.reports.evaluation import write_outputs

    if scenarios < 1:
        raise _ValidationError("options", [_Problem("options", "--scenarios", "must be >= 1")])
    spec = load_study(study)
    with _progress() as progress:
        task = progress.add_task(f"evaluate {spec.name}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        run = runner(scheduler=scheduler, workers=workers)
        result = run_evaluation(spec, scenarios, seed=seed, runner=run, progress=on_progress)
        progress.update(task, description="write outputs")
        paths = write_outputs(result, out)
        progress.update(task, description="done")
    table = Table(title=f"gridflex evaluate — {spec.name} ({scenarios:,} scenarios, seed {seed})")
    for col in ("state", "storage", "score", "failing periods"):
        table.add_column(col)
    for name, st in result.states.items():
        failing = ", ".join(f"T{t + 1}" for t in st.failing_periods()) or "none"
        table.add_row(name, f"× {st.storage_scale:g}", f"{st.score:.2f}", failing)
    console.print(table)
    fit = result.sensitivity.fit
    if fit.beta is not None:
        console.print(
            f"fit: score = {fit.beta:.3f}·ln(E) + {fit.gamma:.3f} (R² {fit.r2:.3f}, {fit.n_points} points)"
        )
    console.print(
        f"{result.timings['total']:.1f} s; outputs in {out}: " + ", ".join(p.name for p in paths.values())
    )
