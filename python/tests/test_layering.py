"""The package's layers, read from its source: a module imports only from its own layer or the
ones below it.

    fixtures   latentlab.testing, latentlab.bench    (Java's test and benchmark JVMs only)
    boundary   latentlab.bridge, latentlab.config    (what Java calls)
    apps       latentlab.apps.*                      (what LatentLab does with a model)
    library    everything else: sampling, checkpoint, execution, experiment, tensors, ...,
               diffusion/, models/, train/, data/, metrics/

Imports are read with ``ast``, function-local ones included, so a lazy upward import inside
a function is caught too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "latentlab"

LAYERS = ("library", "apps", "boundary", "fixtures")


def layer(module: str) -> str:
    """The layer of a module ``latentlab.x.y``."""
    if module in ("latentlab.testing", "latentlab.bench"):
        return "fixtures"
    if module in ("latentlab.bridge", "latentlab.config"):
        return "boundary"
    if module == "latentlab.apps" or module.startswith("latentlab.apps."):
        return "apps"
    return "library"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) for every latentlab module ``path`` imports. ``from latentlab import x``
    counts as importing ``latentlab.x`` (x may be a module or a name; either way it names
    where the code comes from)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, module) for line, module in found
            if module == "latentlab" or module.startswith("latentlab.")]


def upward_imports(root: Path) -> list[str]:
    """``path:line: module (layer) imports target (layer)`` for each import that reaches up."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        source = module_name(path, root)
        for line, target in imported_modules(path, root):
            if LAYERS.index(layer(target)) > LAYERS.index(layer(source)):
                problems.append(f"{path.relative_to(root.parent)}:{line}: {source} "
                                f"({layer(source)}) imports {target} ({layer(target)})")
    return problems


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports(PACKAGE) == []


def test_layers_are_what_the_package_holds():
    """The test sees the package: apps and the library are found, the boundary is there."""
    names = {module_name(p, PACKAGE) for p in PACKAGE.rglob("*.py")}
    assert {"latentlab.apps.evaluate", "latentlab.apps.inpaint", "latentlab.sampling",
            "latentlab.train.ldm", "latentlab.bridge", "latentlab.config"} <= names
    assert layer("latentlab.train.ldm") == "library"
    assert layer("latentlab.apps.sdedit") == "apps"


@pytest.mark.parametrize("line", [
    "from latentlab.apps import evaluate",
    "from latentlab import config as config_lib",
    "import latentlab.bridge",
    "from .. import bridge",
    "from latentlab import testing",
])
def test_an_upward_import_in_the_library_is_caught(tmp_path, line):
    root = tmp_path / "latentlab"
    (root / "train").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "train" / "__init__.py").write_text("")
    (root / "train" / "loops.py").write_text(f"def f():\n    {line}\n")
    problems = upward_imports(root)
    assert len(problems) == 1 and "latentlab.train.loops (library)" in problems[0], problems


def test_apps_may_import_the_library_but_not_the_boundary(tmp_path):
    root = tmp_path / "latentlab"
    (root / "apps").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "apps" / "__init__.py").write_text("")
    (root / "apps" / "denoise.py").write_text(
        "from latentlab import sampling\nfrom latentlab.apps import sdedit\n")
    assert upward_imports(root) == []
    (root / "apps" / "denoise.py").write_text("from latentlab import bridge\n")
    assert len(upward_imports(root)) == 1
