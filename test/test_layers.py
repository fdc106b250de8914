"""The architecture, checked from the source: which layer may import which, and no import cycles.

Every module of ``frrn_seg_ros/`` and ``training/`` is parsed with ``ast`` (nothing is imported);
every import counts, top-level or inside a function, relative ones resolved. A failure names the
file, the line and the import. ``training/`` installs as ``frrn_seg_training`` (setup.py's
``package_dir``), so its modules are named that way here and an import of a bare ``training`` fails.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Import name of each project package -> its folder at the repository root.
PACKAGES = {"frrn_seg_ros": "frrn_seg_ros", "frrn_seg_training": "training"}

# ---------------------------------------------------------------------------------- the rules
#: Layer of a module: the first prefix that matches its dotted name.
LAYER_OF = {
    "frrn_seg_ros.core": "core",  # models, engine, checkpoints, export: torch and numpy, no ROS
    "frrn_seg_training": "training",  # training/: the papers' recipes, data and loop; builds on core
    "frrn_seg_ros.ros": "ros",  # the node and the rclpy-side helpers; builds on core
    "frrn_seg_ros.replay": "app",  # command lines and tools built on the layers below
    "frrn_seg_ros.bench": "app",
    "frrn_seg_ros.demo": "app",
    "frrn_seg_ros.cli": "app",
    "frrn_seg_ros": "core",  # the package root: as light as core
}
#: Which layers each layer may import (its own included).
MAY_IMPORT = {
    "core": {"core"},
    "training": {"core", "training"},
    "ros": {"core", "ros"},
    "app": {"core", "training", "ros", "app"},
}
#: Third-party packages that belong to ROS: only these layers may import them.
ROS_PACKAGES = (
    "rclpy",
    "rosbag2_py",
    "launch",
    "launch_ros",
    "ament_*",
    "*_msgs",
    "rcl_interfaces",
    "builtin_interfaces",
    "rosidl_*",
)
MAY_IMPORT_ROS = {"ros", "app"}


# ---------------------------------------------------------------------------------- the reading
@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports: a module of the project, or a top-level third-party name
    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}  ({self.module} -> {self.target})"


def project_modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module; a package is its ``__init__``."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = (package, *path.relative_to(ROOT / folder).with_suffix("").parts)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import in ``path`` (any depth), as project modules or third-party top-level names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    where = str(path.relative_to(ROOT))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):
            while target not in modules and "." in target and target.split(".")[0] in PACKAGES:
                target = target.rpartition(".")[0]  # an attribute of a module: the module
            if target.split(".")[0] not in PACKAGES:
                target = target.split(".")[0]
            yield Import(module, target, where, node.lineno, ast.unparse(node))


def layer(module: str) -> str | None:
    for prefix, name in LAYER_OF.items():
        if module == prefix or module.startswith(prefix + "."):
            return name
    return None


def all_imports() -> list[Import]:
    modules = project_modules()
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def cycles(edges: list[Import]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), and modules importing themselves."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.module, set()).add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# ---------------------------------------------------------------------------------- the tests
def test_every_module_has_a_layer_and_every_import_is_read() -> None:
    modules = project_modules()
    assert {"frrn_seg_ros.core.checkpoint", "frrn_seg_ros.ros.node", "frrn_seg_ros.replay.evaluate",
            "frrn_seg_ros.bench.node", "frrn_seg_ros.demo.run", "frrn_seg_training.trainer"} <= set(modules)
    assert [m for m in modules if layer(m) is None] == []
    edges = all_imports()
    # in-function imports and relative ones are read: two that sit inside functions
    assert any(e.module == "frrn_seg_ros.core.checkpoint" and e.target == "frrn_seg_ros.core.models"
               for e in edges)
    assert any(e.module == "frrn_seg_ros.replay.evaluate" and e.target == "frrn_seg_training.metrics"
               for e in edges)


def test_no_import_cycles() -> None:
    edges = [e for e in all_imports() if e.target.split(".")[0] in PACKAGES]
    problems = []
    for group in cycles(edges):
        members = set(group)
        inside = [str(e) for e in edges if e.module in members and e.target in members]
        problems.append(f"cycle {' <-> '.join(group)}:\n    " + "\n    ".join(inside))
    assert not problems, "\n".join(problems)


def test_layers_import_only_what_they_may() -> None:
    bad = []
    for e in all_imports():
        own = layer(e.module)
        if e.target.split(".")[0] in PACKAGES:
            if layer(e.target) not in MAY_IMPORT[own]:
                bad.append(f"{e}: {own} may not import {layer(e.target)}")
        elif own not in MAY_IMPORT_ROS and any(fnmatch.fnmatch(e.target, p) for p in ROS_PACKAGES):
            bad.append(f"{e}: {own} may not import ROS package {e.target!r}")
    assert not bad, "\n".join(bad)


def test_imports_use_installed_names_not_folder_names() -> None:
    """``import training`` works from the repository root only; installed, the package is
    ``frrn_seg_training``. Checked in the packages and in everything that imports them."""
    folder_names = {folder: name for name, folder in PACKAGES.items() if folder != name}
    files = [path for folder in (*PACKAGES.values(), "test", "launch", "benchmarks")
             for path in sorted((ROOT / folder).rglob("*.py"))]
    bad = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                targets = [node.module or ""]
            else:
                continue
            for target in targets:
                if (top := target.split(".")[0]) in folder_names:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}  "
                               f"(the folder {top}/ installs as {folder_names[top]})")
    assert len(files) > 100
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_cycle_and_a_layer_breach() -> None:
    """The rules above catch what they claim to, on two hand-made imports."""
    fake = [Import("a", "b", "a.py", 1, "import b"), Import("b", "a", "b.py", 3, "from a import x")]
    assert cycles(fake) == [["a", "b"]]
    assert cycles(fake[:1]) == []
    assert _resolve("frrn_seg_ros.core.models.resnet", False, 2, "safe_load") == "frrn_seg_ros.core.safe_load"
    assert _resolve("frrn_seg_ros.ros", True, 1, "env") == "frrn_seg_ros.ros.env"
    assert layer("frrn_seg_ros.core.engine.engine") == "core" and layer("frrn_seg_ros.demo.live") == "app"
    assert layer("frrn_seg_training.trainer") == "training" and layer("training.trainer") is None
    assert "ros" not in MAY_IMPORT["core"] and "core" not in MAY_IMPORT_ROS
