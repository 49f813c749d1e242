"""``gridflex evaluate``: power-system flexibility of a study (Guo, Li, Deng 2025).

Everything that can be checked before the run is checked first, each as one line and exit code 2:
the options, the study file, the memory the run needs, the output folder (created, as every
command creates its outputs' folder) and the Dask scheduler (reached within a few seconds).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridflex.cli.common import _progress, clear_errors, console
from gridflex.errors import Problem, ValidationError


def _options_error(field: str, message: str) -> ValidationError:
    return ValidationError("options", [Problem("options", field, message)])


def _scenario_count(text: str) -> int:
    """``--scenarios`` as a whole number; ``1e7`` and ``10_000`` are accepted spellings."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise _options_error("--scenarios", f"{text!r} is not a number") from None
        if not number.is_integer():
            raise _options_error("--scenarios", f"must be a whole number, got {text}") from None
        value = int(number)
    if value < 1:
        raise _options_error("--scenarios", f"must be >= 1, got {text}")
    return value


def _output_folder(out: Path) -> Path:
    """Create ``--out`` (and its parents) now, so that a bad path fails before the run, not after it."""
    if out.exists() and not out.is_dir():
        raise _options_error("--out", f"{out} is a file; give a folder for the outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _options_error("--out", f"cannot create the folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise _options_error("--out", f"cannot write into {out}")
    return out


@clear_errors
def evaluate(
    study: Annotated[Path, typer.Argument(help="Study file (YAML or JSON; docs/evaluation.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")] = Path(
        "evaluation"
    ),
    scenarios: Annotated[
        str, typer.Option(metavar="N", help="Number of scenarios (a whole number; 1e5 is accepted).")
    ] = "1000",
    seed: Annotated[int, typer.Option(help="Seed of the scenarios.")] = 0,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://HOST:PORT); default: local processes.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Local worker processes, >= 1 (default: all CPUs).")
    ] = None,
) -> None:
    """Balance score (3 states), storage sensitivity and available flexible capacity of a network."""
    from gridflex.grid.evaluation import check_evaluation, solve_plan
    from gridflex.grid.evaluation import evaluate as run_evaluation
    from gridflex.grid.study import build_network, load_study
    from gridflex.parallel import check_scheduler, check_workers, default_workers, runner
    from gridflex.reports.evaluation import write_outputs

    n_scenarios = _scenario_count(scenarios)
    check_workers(workers, field="--workers")
    spec = load_study(study)
    net = build_network(spec)
    n_workers = 1 if scheduler else (workers or default_workers())
    problems = check_evaluation(spec, n_scenarios, net, workers=n_workers)
    if problems:  # name the option, or the study file's field
        named = [
            Problem("options", "--scenarios", p.message)
            if p.field == "n_scenarios"
            else Problem(str(study), p.field, p.message)
            for p in problems
        ]
        raise ValidationError("evaluate", named)
    _output_folder(out)
    if scheduler:
        check_scheduler(scheduler, field="--scheduler")
    total = solve_plan(spec, n_scenarios).n_solves
    with _progress() as progress:
        task = progress.add_task(f"evaluate {spec.name}", total=total)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        run = runner(scheduler=scheduler, workers=workers)
        result = run_evaluation(spec, n_scenarios, seed=seed, runner=run, progress=on_progress, net=net)
        progress.update(task, description="write outputs")
        paths = write_outputs(result, out)
        progress.update(task, description="done")
    table = Table(title=f"gridflex evaluate — {spec.name} ({n_scenarios:,} scenarios, seed {seed})")
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
