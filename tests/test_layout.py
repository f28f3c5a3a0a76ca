"""The package's layering, read from its source: imports point one way and never form a cycle.

    errors, validation, environment, evaluation   (rank 0: plain helpers)
    data/                                          (rank 1)
    models/                                        (rank 2)
    training/, runs/, saving/                      (rank 3: they use each other, never in a cycle)
    tuning/                                        (rank 4: tools, each a function of a session)
    session.py                                     (rank 5: holds the state, delegates to all above)
    widgets/                                       (rank 6: views)

A module may import only modules of its own rank or below. The old flat paths kept for one
release (`tune_widgets/cache.py` ...) are thin aliases, outside the layering.
"""

import ast
import importlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tune_widgets"
RANKS = {"errors": 0, "validation": 0, "environment": 0, "evaluation": 0, "data": 1, "models": 2,
         "training": 3, "runs": 3, "saving": 3, "tuning": 4, "session": 5, "widgets": 6}
TOP = {"__init__", "__main__"}  # the package's front door imports whatever it re-exports
MOVED = {"acceleration": "training.acceleration", "atomic": "saving.atomic", "bucketing": "data.bucketing",
         "cache": "training.cache", "datasets": "data.datasets", "distribute": "training.distribute",
         "divergence": "training.divergence", "files": "data.readers", "freezing": "models.freezing",
         "jobs": "training.jobs", "optim": "training.optimizers", "reset": "models.reset",
         "snapshot": "models.snapshot", "text": "data.tokenizer", "user_models": "models.user_models",
         "runs.describe": "runs.config", "tuning.lora": "models.lora"}


def modules():
    """{dotted name below tune_widgets: path} for every module, old aliases left out."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in MOVED and not path.parts[-2:] == ("tune_widgets", "__init__.py"):
            found[name] = path
    return found


def imports(name, path):
    """The package modules `name` imports (at any depth of its code: lazy imports count)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    known = modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1] if node.level > 1 else here
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif (node.module or "").startswith("tune_widgets"):
                target = node.module.removeprefix("tune_widgets").lstrip(".")
            else:
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}" if target else alias.name
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("tune_widgets.") for a in node.names if a.name.startswith("tune_widgets."))
    return {target for target in found if target and target != name}


def rank(name):
    return RANKS[name.split(".")[0]]


def test_every_module_has_a_rank():
    unranked = sorted(name for name in modules() if name and name.split(".")[0] not in RANKS | dict.fromkeys(TOP))
    assert not unranked, f"Give these a place in RANKS (tests/test_layout.py): {unranked}"


def test_imports_never_point_up_the_layers():
    upward = [f"{name} (rank {rank(name)}) imports {target} (rank {rank(target)})"
              for name, path in modules().items() if name and name not in TOP
              for target in imports(name, path) if target.split(".")[0] in RANKS and rank(target) > rank(name)]
    assert not upward, "\n".join(upward)


def test_there_is_no_import_cycle():
    known = modules()
    graph = {name: {t for t in imports(name, path) if t in known} for name, path in known.items() if name}
    state, cycles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append(" → ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_a_cycle_or_an_upward_import_would_be_caught(tmp_path, monkeypatch):
    """The checks above can fail: a fake core module importing widgets and itself in a loop."""
    fake = tmp_path / "tune_widgets"
    (fake / "models").mkdir(parents=True)
    (fake / "widgets").mkdir()
    (fake / "models" / "__init__.py").write_text("")
    (fake / "models" / "a.py").write_text("from . import b\nfrom ..widgets import panel\n")
    (fake / "models" / "b.py").write_text("from .a import thing\n")
    (fake / "widgets" / "__init__.py").write_text("")
    (fake / "widgets" / "panel.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="models.a .rank 2. imports widgets.panel"):
        test_imports_never_point_up_the_layers()
    with pytest.raises(AssertionError, match="models.a → models.b → models.a"):
        test_there_is_no_import_cycle()


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_module_paths_are_the_moved_modules(old, new):
    """Kept for one release: `import tune_widgets.cache` gives the module now in training/."""
    assert importlib.import_module(f"tune_widgets.{old}") is importlib.import_module(f"tune_widgets.{new}")
