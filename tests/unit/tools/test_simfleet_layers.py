"""simfleet is layered: its modules import each other without a cycle, and each only from its own or a
lower layer (tools/hctools/simfleet; the layers are declared here and in docs/development.md).

Imports under `if TYPE_CHECKING:` are for type annotations only (a lower layer naming the Fleet it is
handed) and never run, so they are not edges of the import graph.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3] / "tools" / "hctools" / "simfleet"
PACKAGE = "hctools.simfleet"

# bottom to top; a module may import modules of its own layer or of a layer listed before it
LAYERS = [
    ("base: topology, networking and host helpers, data",
     {"links", "relay", "procs", "nodefiles", "configs", "hostutil", "topology", "faultdefs",
      "bootslot"}),
    ("isolation: the namespaces and ports modes behind one interface",
     {"isolation", "isolation.base", "isolation.namespaces", "isolation.ports"}),
    ("lifecycle: the fleet, its bastion, its nodes and their compute units", {"fleet", "bastion", "nodes", "units"}),
    ("operations: faults, inventories and the network watchdog", {"faults", "inventory", "watchdog"}),
    ("cli", {"cli", "__main__"}),
]
LAYER_OF = {m: i for i, (_title, mods) in enumerate(LAYERS) for m in mods}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    mods = {_module_name(p): p for p in ROOT.rglob("*.py")}
    mods.pop("", None)  # the package's own (empty) __init__
    return mods


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _walk_runtime(tree: ast.AST):
    """Every node except what is under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".") if importer else []
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the simfleet modules it imports at run time (relative or absolute)."""
    graph = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        found = set()
        for node in _walk_runtime(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    target = _resolve(name, is_package, node.level, node.module)
                elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                    target = node.module[len(PACKAGE) + 1:]
                else:
                    continue
                # `from . import x` / `from .pkg import y`: x or pkg.y when that is a module, else the module itself
                targets = [f"{target}.{a.name}".lstrip(".") if f"{target}.{a.name}".lstrip(".") in mods else target
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name[len(PACKAGE) + 1:] for a in node.names if a.name.startswith(PACKAGE + ".")]
            found.update(t for t in targets if t and t != name)
        graph[name] = found
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for dep in sorted(graph.get(m, ())):
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_every_module_has_a_layer():
    mods = _modules()
    assert set(mods) == set(LAYER_OF), "declare new simfleet modules in LAYERS (and remove gone ones)"


def test_there_is_no_import_cycle():
    graph = imports(_modules())
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_modules_import_only_their_own_or_lower_layers():
    graph = imports(_modules())
    upward = [f"{m} ({LAYERS[LAYER_OF[m]][0].split(':')[0]}) imports {d} ({LAYERS[LAYER_OF[d]][0].split(':')[0]})"
              for m, deps in sorted(graph.items()) for d in sorted(deps) if LAYER_OF[d] > LAYER_OF[m]]
    assert not upward


def test_links_and_relay_are_the_bottom():
    graph = imports(_modules())
    assert graph["links"] == set()
    assert graph["relay"] == {"links"}


def test_no_module_but_the_isolation_modes_tests_the_mode_name():
    """The ~17 `ports_mode` branches went behind Fleet.iso: nothing outside isolation/ asks for a mode by name."""
    offenders = []
    for name, path in _modules().items():
        if name.startswith("isolation") or name == "cli":
            continue
        text = path.read_text()
        for needle in ("ports_mode", '== "ports"', '== "namespaces"', "isolation == "):
            if needle in text:
                offenders.append(f"{name}: {needle}")
    assert not offenders


@pytest.mark.parametrize("source, expected", [
    ("from . import a, b\n", {"a", "b"}),
    ("from .a import X\n", {"a"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import Y\n", set()),
    ("import hctools.simfleet.a\nfrom hctools.simfleet.b import Z\n", {"a", "b"}),
])
def test_the_import_parser(tmp_path, source, expected):
    (tmp_path / "a.py").write_text("")
    (tmp_path / "b.py").write_text("")
    (tmp_path / "m.py").write_text(source)
    mods = {"a": tmp_path / "a.py", "b": tmp_path / "b.py", "m": tmp_path / "m.py"}
    assert imports(mods)["m"] == expected


def test_the_cycle_finder():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
