"""The public API is small, explicit and importable; the core imports no adapter."""

import ast
from pathlib import Path
from types import ModuleType

import gridflex
import gridflex.flexoffer
import gridflex.optimize

SRC = Path(gridflex.__file__).parent


def test_top_level_all_is_exact_and_importable():
    assert sorted(gridflex.__all__) == sorted(set(gridflex.__all__))
    for name in gridflex.__all__:
        assert hasattr(gridflex, name), name
    public = {n for n, v in vars(gridflex).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert public <= set(gridflex.__all__), public - set(gridflex.__all__)


def test_subpackage_all_lists_only_existing_names():
    for mod in (gridflex.flexoffer, gridflex.optimize):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"


def test_core_never_imports_an_adapter():
    core = ["timegrid.py", "errors.py", "prices.py", "flexoffer", "optimize", "assets", "scheduling", "grid"]
    forbidden = (
        "typer",
        "rich",
        "plotly",
        "fastapi",
        "sqlalchemy",
        "websockets",
        "gridflex.cli",
        "gridflex.report",
    )
    for entry in core:
        for path in [SRC / entry] if entry.endswith(".py") else sorted((SRC / entry).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for n in names:
                    assert not n.startswith(forbidden), f"{path.name} imports {n}"
