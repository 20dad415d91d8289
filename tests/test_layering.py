"""The dependency direction between the packages and between the rooms of ``sim/``.

Every ``import`` statement in the project's packages (at module level or inside a
function: a lazy import is still a dependency) and every lazy-export table (``_LAZY``,
module paths as strings) is an edge from the importing unit to the imported one. A unit is
a top-level package (``kinematics``, ``haptics``, ``scenarios``, ``bench``) or a room of
``sim`` (``sim.world``, ``sim.session``, ...; ``sim`` itself, ``sim.errors``, ``sim._lazy``
and ``sim.stop_signals`` are the shared base every room may use). An edge that
:data:`ALLOWED` does not list fails, with the file and line that made it.

The direction is ``docs/architecture.md``'s (from the shared DESIGN.md and the tree).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kinematics", "haptics", "scenarios", "sim", "bench")

#: the base of ``sim``: small modules every room may import (they import no room)
SIM_BASE = frozenset({"sim", "sim.errors", "sim._lazy", "sim.stop_signals"})
#: the libraries below ``sim``: pure math, the master side, the scenario language
LIBRARIES = frozenset({"kinematics", "haptics", "scenarios"})
BELOW_ROOMS = LIBRARIES | SIM_BASE
ROOMS = (
    "sim.world",
    "sim.render",
    "sim.session",
    "sim.devices",
    "sim.server",
    "sim.view",
    "sim.xr",
    "sim.env",
    "sim.cli",
)

#: what each unit may import (besides itself), lowest first
ALLOWED: dict[str, frozenset[str]] = {
    "kinematics": frozenset(),  # numpy and numba only
    # no sim, no pybullet, no zmq; kinematics (numpy only, a light package) for the one
    # closest-name hint of every package's errors (kinematics.errors.closest_names)
    "scenarios": frozenset({"kinematics"}),
    "haptics": frozenset({"kinematics"}),
    **{base: LIBRARIES for base in SIM_BASE},
    # pybullet physics: nothing that drives it, shows it or wraps it
    "sim.world": BELOW_ROOMS,
    # the GL renderer: no pybullet, so not the world
    "sim.render": BELOW_ROOMS,
    # the composition root: the world; no server, env, cli, view or xr
    "sim.session": BELOW_ROOMS | {"sim.world"},
    # device processes: the demonstrator and its plans over the bus
    "sim.devices": BELOW_ROOMS | {"sim.world", "sim.session"},
    # the real-time loop around a session
    "sim.server": BELOW_ROOMS | {"sim.world", "sim.session", "sim.devices"},
    # the desktop window and the session's pictures: the renderer, no pybullet
    "sim.view": BELOW_ROOMS | {"sim.render"},
    # the headset client: the renderer and the desktop's HUD, no pybullet
    "sim.xr": BELOW_ROOMS | {"sim.render", "sim.view"},
    # Gymnasium: a session, drawn by the renderer
    "sim.env": BELOW_ROOMS | {"sim.world", "sim.session", "sim.render", "sim.view"},
    # the commands compose everything, `surgisim bench` included; nothing imports them
    "sim.cli": BELOW_ROOMS | set(ROOMS) | {"bench"},
    # benchmarks may measure anything but the commands (library code lives below them)
    "bench": BELOW_ROOMS | (set(ROOMS) - {"sim.cli"}),
}


#: edges against the direction, allowed for now, each with why; keep this empty
EXCEPTIONS: dict[tuple[str, str], str] = {}


def unit_of(module: str) -> str:
    """``sim.session.sweep`` -> ``sim.session``; ``haptics.bus.wire`` -> ``haptics``."""
    parts = module.split(".")
    if parts[0] == "sim" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The project modules an import statement or a ``_LAZY`` table names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if not node.level:
            return [node.module or ""]
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        return [".".join([*base, node.module] if node.module else base)]
    lazy_table = isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
    if lazy_table and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets):
        return [
            v.value.split(":")[0]
            for v in node.value.values
            if isinstance(v, ast.Constant) and isinstance(v.value, str)
        ]
    return []


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the ``file:line`` places, between units only."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module_name(path)
            source = unit_of(module)
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                for target in _imported(node, module, path.name == "__init__.py"):
                    if target.split(".")[0] not in PACKAGES:
                        continue
                    dest = unit_of(target)
                    if dest != source:
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        edges[(source, dest)].append(where)
    return dict(edges)


def test_every_import_between_packages_and_rooms_goes_the_allowed_direction():
    edges = import_edges()
    unknown = sorted({source for source, _ in edges} - set(ALLOWED))
    assert not unknown, f"units the layering does not place (add them to ALLOWED): {unknown}"
    wrong = [
        f"{source} -> {dest}: {', '.join(places)}"
        for (source, dest), places in sorted(edges.items())
        if dest not in ALLOWED[source] and (source, dest) not in EXCEPTIONS
    ]
    assert not wrong, "imports against the dependency direction:\n" + "\n".join(wrong)


def test_the_edges_are_found():
    """The scan sees function-level, relative and lazy-table imports (a scan that found
    nothing would pass the test above)."""
    edges = import_edges()
    assert ("sim.session", "sim.world") in edges  # function-level and module-level
    assert ("haptics", "kinematics") in edges
    assert ("sim.xr", "sim.view") in edges  # the headset shows the desktop's HUD
    assert unit_of("sim.world.arm") == "sim.world" and unit_of("haptics.bus") == "haptics"
    lazy = ast.parse('_LAZY = {"World": "sim.world.world"}').body[0]
    assert _imported(lazy, "sim.session", True) == ["sim.world.world"]
    relative = ast.parse("from ..world import arm").body[0]
    assert _imported(relative, "sim.session.sweep", False) == ["sim.world"]


def test_every_room_is_placed_here_and_documented():
    """A new room of ``sim/`` gets a place in the direction and a row in the page."""
    rooms = {f"sim.{p.parent.name}" for p in (ROOT / "sim").glob("*/__init__.py")}
    assert rooms == set(ROOMS)
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [room for room in ROOMS if f"`{room.replace('.', '/')}/`" not in page]
    assert not missing, f"rooms without a row in docs/architecture.md: {missing}"
