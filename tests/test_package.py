"""The package as a user meets it: `import keras_p2c` registers every Keras class, stays light, and its
modules import one way (cli → inference/training/serving → faces/data/weights → models → layers)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_p2c"

# Rank of each top-level part of the package: a module may import only parts of its own or a lower rank.
RANKS = {
    "cli": 5, "benchmarks": 5,
    "inference": 4, "training": 4, "serving": 4, "evaluation": 4,
    "faces": 3, "data": 3, "weights": 3,
    "models": 2, "optimizers": 2,
    "losses": 1, "layers": 1, "images": 1,
    "cache": 0, "lazy": 0, "atomic": 0, "download": 0, "cpu": 0,
}  # fmt: skip


def _run(code, cwd):
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def saved_generator(tmp_path_factory):
    from keras_p2c.models import Generator

    folder = tmp_path_factory.mktemp("saved")
    generator = Generator(ngf=8, n_blocks=2, img_size=64)
    generator.build((None, 64, 64, 3))
    generator.save(folder / "gen.keras")
    return folder


# The third imports Keras from inside one of our modules: registration then waits for Keras' first lookup.
@pytest.mark.parametrize(
    "imports", ["import keras, keras_p2c", "import keras_p2c, keras", "import keras_p2c.models.discriminator, keras"]
)
def test_a_saved_generator_loads_after_importing_the_package(saved_generator, imports):
    done = _run(f"{imports}; m = keras.saving.load_model('gen.keras'); print(type(m).__name__, m.count_params())", saved_generator)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[0] == "Generator"


def test_importing_the_package_imports_neither_keras_nor_tensorflow(tmp_path):
    done = _run("import sys, keras_p2c; print(sorted({'keras', 'tensorflow', 'cv2'} & set(sys.modules)))", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path, module, modules):
    """`(imported module, line, at top level)` for every keras_p2c import of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from pkg import submodule` imports the submodule; `from pkg import name` reads the package.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "keras_p2c":
                found.append((name, node.lineno, id(node) in top_level))
    return found


def _part(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_imports_flow_one_way_without_cycles_or_hidden_imports():
    modules = dict(_modules())
    upward, hidden, graph = [], [], {}
    for module, path in modules.items():
        part = _part(module)
        graph[module] = set()
        for name, line, top in _imports(path, module, modules):
            target = name if name in modules else name.rpartition(".")[0]
            if target not in modules or target == module:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if not top and part != "cli" and path.name != "__init__.py":
                hidden.append(where)
            if part is None or _part(target) is None:
                continue  # the package root (registration, lazy exports) stands outside the ranks
            assert part in RANKS and _part(target) in RANKS, f"unranked part in {where}: add it to RANKS"
            if RANKS[_part(target)] > RANKS[part]:
                upward.append(where)
            if top:
                graph[module].add(target)
    assert not upward, "imports against the flow:\n" + "\n".join(upward)
    assert not hidden, "function-local keras_p2c imports outside cli/ and package __init__s:\n" + "\n".join(hidden)
    # Cycles among the modules' top-level imports (`from keras_p2c.models import X` is an edge to the package).
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " → ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
