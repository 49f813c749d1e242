"""The public API is explicit and pinned; the layers import only what the plan allows; no import circles."""

import ast
import subprocess
import sys
from pathlib import Path

import gridflex
import gridflex.flexoffer
import gridflex.grid
import gridflex.market
import gridflex.optimize
import gridflex.scheduling

SRC = Path(gridflex.__file__).parent

PUBLIC = {
    "__version__",
    # errors
    "DataError", "DisaggregationError", "FlexOfferValidationError", "GridflexError", "InfeasibleError",
    "ModelError", "Problem", "SiteInfeasibleError", "SolverError", "TimeGridError", "UnboundedError",
    "ValidationError",
    # flex-offers
    "Aggregation", "ExecutionResult", "FlexOfferBatch", "Schedule", "ScheduleResult", "aggregate",
    "balance_aggregate", "check_flexoffers", "disaggregate", "execute", "fleet_horizon", "flexibility_summary",
    "generate_fleet", "read_flexoffers", "schedule_flexoffers", "simulate_measurements", "validate_flexoffers",
    "write_flexoffers",
    # multi-energy sites
    "CompiledSite", "MpcResult", "Site", "SiteResult", "compare_strategies", "compile_site", "load_site",
    "parse_site", "run_mpc", "run_schedule_file", "run_strategy", "schedule_site", "site_flexibility",
    "site_on_horizon", "validate_site",
    # power-system evaluation
    "EvaluationResult", "Study", "evaluate", "load_study",
    # prices, time, optimisation
    "load_smard_prices", "prices_on_grid", "TimeGrid", "local_day_grid", "local_to_utc", "Model", "Solution",
}  # fmt: skip


def test_top_level_all_is_pinned_and_importable():
    assert len(gridflex.__all__) == len(set(gridflex.__all__))
    assert set(gridflex.__all__) == PUBLIC
    for name in gridflex.__all__:
        assert getattr(gridflex, name) is not None, name


def test_import_gridflex_is_light():
    # the public names load on first use: `import gridflex` (and `gridflex --help`) pull in no numpy
    code = (
        "import sys, gridflex; print(sorted(m for m in ('numpy', 'pandas', 'highspy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_subpackage_all_lists_only_existing_names():
    for mod in (gridflex.flexoffer, gridflex.optimize, gridflex.scheduling, gridflex.grid, gridflex.market):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"


def test_highs_banner_never_reaches_stdout():
    code = "from gridflex.optimize import Model; m = Model(); m.add_vars(1, ub=1.0, cost=-1.0); m.solve()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout == ""


# ---- layers --------------------------------------------------------------------------------------

SCIENCE = {"numpy", "scipy", "pandas", "pydantic"}
CORE = {"gridflex.errors", "gridflex.timegrid", "gridflex.documents", "gridflex.optimize"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "timegrid": {"numpy", "pandas", "gridflex.errors"},
    "documents": {"yaml", "gridflex.errors"},
    "optimize": {"numpy", "scipy", "highspy", "gridflex.errors"},
    "assets": SCIENCE | CORE,
    "flexoffer": SCIENCE | CORE,
    "market": SCIENCE | CORE | {"gridflex.flexoffer"},
    "scheduling": SCIENCE | CORE | {"gridflex.assets", "gridflex.market", "gridflex.flexoffer"},
    "grid": SCIENCE | CORE | {
        "pandapower", "gen_adequacy", "matpowercaseframes", "gridflex.market",
        "gridflex.flexoffer",  # grid/distribution: sites' flex-offers located on connection buses (relief)
        "power_grid_model", "simbench",  # grid/distribution: fast power flow; SimBench (optional extra)
    },
    # adapters
    # the serial runner is the core's (grid.evaluation.run_serial): one loop, and the core never imports parallel
    "parallel": {"distributed", "gridflex.errors", "gridflex.grid"},
    "reports": SCIENCE | {"plotly"} | CORE | {"gridflex.flexoffer", "gridflex.scheduling", "gridflex.grid"},
    "s2": SCIENCE | CORE | {"s2python", "websockets", "jsonschema", "gridflex.assets", "gridflex.scheduling"},
    "demos": SCIENCE | {"plotly"} | CORE | {
        "gridflex.flexoffer", "gridflex.scheduling", "gridflex.market", "gridflex.reports", "gridflex.s2",
        "gridflex.grid",  # the market demo: a congested distribution feeder (demos drive every layer)
        "gridflex.client",  # demo --serve: the day's actors through the service's API
    },
    # the service: the store alone knows the database libraries, the api alone the web framework
    "store": SCIENCE | CORE | {"sqlalchemy", "alembic", "psycopg", "gridflex.market"},
    "api": {"pydantic"} | CORE | {"fastapi", "starlette", "uvicorn", "sqlalchemy", "gridflex.market", "gridflex.store",
            "numpy", "gridflex.grid", "gridflex.web",  # the dashboard: series of the shipped grids; pages at /
            "yaml", "gridflex.scheduling", "gridflex.flexoffer", "gridflex.s2", "websockets",  # site files uploaded, scheduled by the job kinds
            "gridflex.reports", "gridflex.parallel"},  # evaluation studies as jobs: their outputs, their solves on Dask
    "web": {"pydantic", "jinja2", "numpy"} | CORE | {"fastapi", "starlette", "gridflex.api", "gridflex.market", "gridflex.store",
            "gridflex.grid", "gridflex.flexoffer"},  # the portfolio page reads the stored flex-offers
    "client": {"httpx", "gridflex.errors"},  # the service's Python client: HTTP only, no server code
}  # fmt: skip
# Only this module talks to HiGHS.
HIGHSPY_ONLY_IN = {Path("optimize/highs.py")}


def _imports(path: Path, top_level_only: bool = False) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _layer_of(name: str) -> str | None:
    top = name.split(".")[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return None
    if top == "gridflex":
        parts = name.split(".")
        return "gridflex." + parts[1] if len(parts) > 1 else "gridflex"
    return top


def test_each_layer_imports_only_what_the_plan_allows():
    for layer, allowed in ALLOWED.items():
        paths = (
            [SRC / f"{layer}.py"] if (SRC / f"{layer}.py").exists() else sorted((SRC / layer).rglob("*.py"))
        )
        assert paths, layer
        for path in paths:
            rel = path.relative_to(SRC)
            for name in _imports(path):
                dep = _layer_of(name)
                if dep is None or dep == f"gridflex.{layer}":
                    continue
                if dep == "highspy":
                    assert rel in HIGHSPY_ONLY_IN, f"{rel} imports highspy (only optimize/highs.py may)"
                assert dep in allowed, f"{rel} imports {name}: not allowed in layer '{layer}'"


def test_every_module_is_in_a_layer():
    known = set(ALLOWED) | {"__init__", "cli"}
    found = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in SRC.rglob("*.py")}
    assert found <= known, found - known


def _module_deps(path: Path) -> list[str]:
    # Every import counts, also inside functions (a local import hides a circle, it does not open
    # it); only TYPE_CHECKING blocks are exempt. `from pkg import sub` depends on pkg.sub alone.
    out = []
    tree = ast.parse(path.read_text())
    type_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for n in ast.walk(block)
    }
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            found = [s for s in subs if (SRC.parent / s.replace(".", "/")).with_suffix(".py").exists()]
            out += found if len(found) == len(subs) else [node.module]
    return out


def test_no_import_circles():
    modules = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    graph = {m: {n for n in _module_deps(p) if n in modules and n != m} for m, p in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
