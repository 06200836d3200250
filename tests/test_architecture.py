"""The shape of the code: no import cycle between modules, no over-long function.

Both walk the source with `ast`, so they see imports inside functions too (the lazy imports that
keep the CLI fast are still dependencies).
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "fsa_distill"
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(SRC.rglob("*.py"))}


def imported(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The project modules `name` imports, anywhere in the file (`from a import b` counts as a.b
    when a.b is a module, else as a)."""
    out = set()
    package = name if any(m.startswith(name + ".") for m in known) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                out.add(full if full in known else base)
    return {m for m in out if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def import_graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {name: imported(name, tree, known) for name, tree in trees.items()}


def packages() -> set[str]:
    """The stage packages (fsa_distill.models, ...): the modules that are a folder's __init__.py."""
    return {module_name(p) for p in SRC.rglob("__init__.py")} - {"fsa_distill"}


def test_no_import_cycle_between_modules():
    graph = import_graph()
    # A package's __init__ re-exporting its own modules is not a cycle of dependencies; every other
    # edge counts, a module importing its own package's __init__ (`from fsa_distill.models import`)
    # included.
    graph = {n: {m for m in deps if not m.startswith(n + ".")} for n, deps in graph.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def stage_package(module: str, pkgs: set[str]) -> str | None:
    """The stage package a module belongs to (a package's __init__ is the package itself); None
    for the top-level shared modules (fsa_distill.config, ...)."""
    parts = module.split(".")
    if len(parts) >= 3:
        return ".".join(parts[:2])
    return module if module in pkgs else None


def package_graph() -> dict[str, set[str]]:
    pkgs, graph = packages(), {}
    for n, deps in import_graph().items():
        pkg = stage_package(n, pkgs)
        if pkg is None:  # top-level modules (fsa_distill.config, ...) are shared utilities
            continue
        for m in deps:
            other = stage_package(m, pkgs)
            if other is not None and other != pkg:
                graph.setdefault(pkg, set()).add(other)
    return graph


def test_no_import_cycle_between_packages():
    graph = package_graph()
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_package_graph_sees_imports_of_package_init_modules():
    """`from fsa_distill.models import load_student` is an edge to models, as an import of
    `fsa_distill.models.folder` is: both are seen."""
    pkgs = packages()
    assert "fsa_distill.models" in pkgs and stage_package("fsa_distill.models", pkgs) == "fsa_distill.models"
    tree = ast.parse("from fsa_distill.models import load_student\nimport fsa_distill.decoding\n")
    known = set(modules())
    deps = imported("fsa_distill.student.finetune", tree, known)
    assert deps == {"fsa_distill.models", "fsa_distill.decoding"}
    assert {"fsa_distill.models", "fsa_distill.inference"} <= package_graph()["fsa_distill.student"]


def long_functions() -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                doc = ast.get_docstring(node) or ""
                if n > MAX_FUNCTION_LINES and "long because" not in doc.lower():
                    out.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_function_over_60_lines_unless_its_docstring_says_why():
    assert long_functions() == []


# docs/architecture.md's table, top to bottom: each package imports only those before it.
LAYERS = ["benchmark", "decoding", "teacher", "data_import", "models", "inference", "evaluation", "student",
          "serving", "pipeline"]
MAX_MODULE_LINES = 350
DOC = SRC.parents[1] / "docs" / "architecture.md"


def test_packages_import_only_the_layers_below_them():
    assert {p.split(".")[1] for p in packages()} == set(LAYERS)
    upward = [f"{pkg} -> {dep}" for pkg, deps in package_graph().items() for dep in deps
              if LAYERS.index(dep.split(".")[1]) > LAYERS.index(pkg.split(".")[1])]
    assert upward == []
    doc = DOC.read_text(encoding="utf-8")
    rows = [line.split("`")[1].rstrip("/") for line in doc.splitlines() if line.startswith("| `")
            and line.split("`")[1].endswith("/")]
    assert rows[:len(LAYERS)] == LAYERS  # the page lists them in this order


def test_no_module_over_350_lines_unless_the_architecture_page_says_why():
    doc = DOC.read_text(encoding="utf-8")
    long = [f"{p.relative_to(SRC)} ({n} lines)" for p in sorted(SRC.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
            and str(p.relative_to(SRC)) not in doc]
    assert long == []
