"""``gridflex evaluate``: power-system flexibility of a study (Guo, Li, Deng 2025).

Everything that can be checked before the run is checked first, each as one line and exit code 2:
the options, the study file, the memory the run needs, the output folder (created, as every
command creates its outputs' folder) and the Dask scheduler (reached within a few seconds).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

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
    scenario_set: Annotated[
        list[str] | None,
        typer.Option("--set", help="Scenario set(s) of the study to run (default: every set, or the study)."),
    ] = None,
) -> None:
    """Balance score (3 states), storage sensitivity and available flexible capacity of a network."""
    from gridflex.grid.evaluation import check_evaluation
    from gridflex.grid.study import build_network, load_study
    from gridflex.parallel import check_scheduler, check_workers, default_workers

    n_scenarios = _scenario_count(scenarios)
    check_workers(workers, field="--workers")
    base = load_study(study)
    names = list(scenario_set or base.scenario_sets)
    for wanted in names:  # an unknown wanted is refused before any work
        if wanted not in base.scenario_sets:
            known = ", ".join(base.scenario_sets) or "none"
            raise _options_error("--set", f"no scenario set {wanted!r} in {study} (sets: {known})")
    runs: list[tuple[str | None, Any, Path]] = [(n, base.scenario_set(n), out / n) for n in names]
    runs = runs or [(None, base, out)]
    net = build_network(base)
    n_workers = 1 if scheduler else (workers or default_workers())
    for name, spec, _ in runs:
        problems = check_evaluation(spec, n_scenarios, net, workers=n_workers, seed=seed)
        if problems:  # name the option, or the study file's field
            pre = f"scenario_sets.{name}." if name else ""
            named = [
                Problem("options", f"--{'scenarios' if p.field == 'n_scenarios' else 'seed'}", p.message)
                if p.field in ("n_scenarios", "seed")
                else Problem(str(study), p.field if p.field.startswith(pre) else pre + p.field, p.message)
                for p in problems
            ]
            raise ValidationError("evaluate", named)
    _output_folder(out)
    if scheduler:
        check_scheduler(scheduler, field="--scheduler")
    results = {}
    for name, spec, folder in runs:
        results[name] = _run_one(spec, n_scenarios, seed, scheduler, workers, net, folder)
    if names:
        sets = {str(k): r.summary() for k, r in results.items()}
        comparison = {
            k: {st: v["states"][st]["score"] for st in v["states"]}
            | {"capacity": v["capacity"]["mean_available_up_mw"]}
            for k, v in sets.items()
        }
        import json

        (out / "scenario_sets.json").write_text(json.dumps(comparison, indent=1), encoding="utf-8")


def _run_one(
    spec: Any, n_scenarios: int, seed: int, scheduler: str | None, workers: int | None, net: Any, out: Path
) -> Any:
    """One study (or scenario set): run with a progress bar, write its outputs, print its table."""
    from gridflex.grid.evaluation import evaluate as run_evaluation
    from gridflex.grid.evaluation import solve_plan
    from gridflex.parallel import runner
    from gridflex.reports.evaluation import write_outputs

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
    for name, st in result.states.items():
        if st.undecided:
            console.print(
                f"{name}: {int(st.limited.sum())} solves stopped by the MILP time limit, {st.undecided} periods "
                f"undecided (score between {st.score:.2f} and {st.score_if_undecided_balanced:.2f})"
            )
    console.print(
        f"{result.timings['total']:.1f} s; outputs in {out}: " + ", ".join(p.name for p in paths.values())
    )
    return result
