"""The project's import graph (every import, also those inside functions, read with ast): no import circle between
the project's modules, and the layers point one way: nothing in data/, serving/, trainer/, webapp/ or components/
imports pipeline/. Run alone: python tests/test_layers.py (prints the graph's size and any circle). Seconds."""
import ast
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("data", "trainer", "serving", "webapp", "components", "pipeline", "benchmarks")


def modules() -> dict:
    """module name -> its file, for every .py file of the project's packages."""
    found = {}
    for package in PACKAGES:
        for root, dirs, names in os.walk(os.path.join(REPO, package)):
            dirs[:] = [d for d in dirs if d not in ("warm_start", "sample", "__pycache__")]
            for name in names:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(root, name), REPO)[:-3].replace(os.sep, ".")
                    found[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(root, name)
    return found


def imports(name: str, path: str, known: dict) -> set:
    """The project modules `name` imports (from X import Y counts as X.Y when that is a module, else X)."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base + "." + a.name if base + "." + a.name in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(g: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def upward(g: dict) -> list:
    return sorted((a, b) for a, targets in g.items() for b in targets
                  if b.split(".")[0] == "pipeline" and a.split(".")[0] != "pipeline")


def test_no_import_circle():
    assert cycles(graph()) == []


def test_nothing_below_pipeline_imports_it():
    assert upward(graph()) == []


if __name__ == "__main__":
    g = graph()
    print("%d modules, %d imports between them" % (len(g), sum(len(v) for v in g.values())))
    print("circles: %s" % (cycles(g) or "none"))
    print("imports of pipeline/ from below it: %s" % (upward(g) or "none"))
