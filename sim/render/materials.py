"""How each material of :data:`scenarios.visual.MATERIALS` is shaded.

Blinn-Phong with the scope's light: ``diffuse`` scales the base colour, ``specular`` and
``shininess`` make the highlight (its strength and tightness), ``metallic`` tints the
highlight with the base colour (metals) instead of white (wet tissue, plastics), and
``pattern`` adds procedural detail in the object frame (tissue mottling, board grain), so
that surfaces read as surfaces under a single light. Large receivers (the board, tissue
pads) cast no shadow: they lie under everything else, and leaving them out of the shadow
map saves most of its fill cost on a software rasteriser.
"""

from __future__ import annotations

from dataclasses import dataclass

#: procedural detail a material may carry (the shader's ``u_pattern``)
PATTERN_NONE, PATTERN_TISSUE, PATTERN_GRAIN = 0, 1, 2


@dataclass(frozen=True)
class Shading:
    """Shader parameters of one material (see the module docstring)."""

    diffuse: float
    specular: float
    shininess: float
    metallic: float = 0.0
    pattern: int = PATTERN_NONE
    casts_shadow: bool = True


#: Shading of every material name (the keys are exactly scenarios.visual.MATERIALS).
SHADING: dict[str, Shading] = {
    # wet tissue: a tight, bright white highlight on a soft, mottled pink base
    "tissue": Shading(0.9, 0.6, 120.0, 0.0, PATTERN_TISSUE, casts_shadow=False),
    "ring": Shading(0.9, 0.35, 40.0),
    "peg": Shading(0.85, 0.3, 30.0),
    "board": Shading(0.9, 0.04, 8.0, 0.0, PATTERN_GRAIN, casts_shadow=False),
    "wire": Shading(0.6, 0.9, 60.0, 0.8),
    "needle": Shading(0.45, 1.2, 90.0, 0.3),
    "mark": Shading(0.9, 0.05, 10.0),
    # stainless steel: the base colour shows in a strong, fairly tight highlight
    "metal": Shading(0.55, 1.1, 50.0, 0.6),
    # black coated shaft: dark, with a broad faint sheen along it
    "black": Shading(0.8, 0.35, 20.0),
    "default": Shading(0.85, 0.2, 16.0),
}
