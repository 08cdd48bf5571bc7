"""Semantic material classes as distributions over principled-BSDF parameters and procedural textures.

Parameter ranges overlap on purpose (a rough dark plastic and a rubber, a glossy ceramic and a plastic share BSDF
values), so the class of a pixel is not a function of its G-buffer values alone: a model has to read texture and
context, which is what the per-pixel baseline cannot do.
"""

import colorsys
from dataclasses import dataclass

import numpy as np

from ...schema import MATERIAL_CLASSES
from .textures import render_pattern

__all__ = ["MATERIAL_RECIPES", "MaterialRecipe", "MaterialSample", "sample_material"]


@dataclass(frozen=True)
class MaterialRecipe:
    """How to draw one material of a class.

    Attributes:
        pattern (`str`): the procedural texture (`uruk_hf.data.rendering.textures.TEXTURE_PATTERNS`).
        hue, saturation, value (`tuple[float, float]`): ranges of the base colour in HSV.
        accent_value_scale (`tuple[float, float]`): the accent colour is the base with its value scaled by this.
        metallic, roughness, specular, sheen (`tuple[float, float]`): principled BSDF parameter ranges. Every class
            has some sheen: Mitsuba's principled BSDF compiles a different code path when sheen is exactly 0, and
            one path for all materials lets Dr.Jit compile a scene structure once instead of per material mix.
    """

    pattern: str
    hue: tuple[float, float]
    saturation: tuple[float, float]
    value: tuple[float, float]
    accent_value_scale: tuple[float, float]
    metallic: tuple[float, float]
    roughness: tuple[float, float]
    specular: tuple[float, float]
    sheen: tuple[float, float] = (0.01, 0.05)


MATERIAL_RECIPES = {
    "metal": MaterialRecipe(
        "brushed", (0.0, 0.16), (0.0, 0.6), (0.3, 0.95), (0.6, 0.9), (0.3, 1.0), (0.05, 0.7), (0.3, 0.7)
    ),
    "painted_metal": MaterialRecipe(
        "chipped_paint", (0.0, 1.0), (0.2, 0.9), (0.2, 0.9), (0.8, 1.2), (0.0, 0.7), (0.1, 0.7), (0.3, 0.7)
    ),
    "wood": MaterialRecipe(
        "wood_grain", (0.02, 0.14), (0.3, 0.8), (0.15, 0.7), (0.4, 0.7), (0.0, 0.3), (0.2, 0.9), (0.2, 0.6)
    ),
    "stone": MaterialRecipe(
        "stone", (0.0, 1.0), (0.0, 0.35), (0.2, 0.8), (0.3, 1.4), (0.0, 0.3), (0.3, 1.0), (0.2, 0.6)
    ),
    "plastic": MaterialRecipe(
        "flat", (0.0, 1.0), (0.2, 1.0), (0.1, 0.9), (0.8, 1.1), (0.0, 0.4), (0.05, 0.8), (0.3, 0.7)
    ),
    "fabric": MaterialRecipe(
        "weave", (0.0, 1.0), (0.1, 0.8), (0.1, 0.8), (0.5, 0.8), (0.0, 0.2), (0.4, 1.0), (0.2, 0.6), (0.3, 1.0)
    ),
    "ceramic": MaterialRecipe(
        "tiles", (0.0, 1.0), (0.0, 0.6), (0.3, 0.95), (0.5, 0.8), (0.0, 0.4), (0.02, 0.6), (0.3, 0.8)
    ),
    "rubber": MaterialRecipe(
        "rubber", (0.0, 1.0), (0.0, 0.5), (0.02, 0.4), (0.5, 1.5), (0.0, 0.3), (0.3, 1.0), (0.2, 0.6)
    ),
}
"""One recipe per class of `uruk_hf.schema.MATERIAL_CLASSES`."""


@dataclass(frozen=True)
class MaterialSample:
    """One drawn material: its semantic class and the principled BSDF it renders with.

    Attributes:
        class_index (`int`): index into `MATERIAL_CLASSES` (the training label).
        texture (`np.ndarray`): `(size, size, 3)` base colour, linear RGB.
        metallic, roughness, specular, sheen (`float`): principled BSDF parameters.
    """

    class_index: int
    texture: np.ndarray
    metallic: float
    roughness: float
    specular: float
    sheen: float


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _srgb_to_linear(colour: np.ndarray) -> np.ndarray:
    return np.where(colour <= 0.04045, colour / 12.92, ((colour + 0.055) / 1.055) ** 2.4)


def sample_material(class_name: str, rng: np.random.Generator, texture_size: int = 64) -> MaterialSample:
    """Draws a material of class `class_name` (its colours, texture and BSDF parameters) from `rng`."""
    recipe = MATERIAL_RECIPES[class_name]
    hue, saturation, value = (_uniform(rng, recipe.hue), _uniform(rng, recipe.saturation), _uniform(rng, recipe.value))
    base = np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))
    accent_value = float(np.clip(value * _uniform(rng, recipe.accent_value_scale), 0.0, 1.0))
    accent = np.array(colorsys.hsv_to_rgb((hue + rng.normal(0, 0.03)) % 1.0, saturation, accent_value))
    if class_name == "painted_metal":
        accent = np.full(3, rng.uniform(0.45, 0.7))  # chips show bare grey metal
    texture = render_pattern(recipe.pattern, rng, texture_size, _srgb_to_linear(base), _srgb_to_linear(accent))
    return MaterialSample(
        class_index=MATERIAL_CLASSES.index(class_name),
        texture=texture,
        metallic=_uniform(rng, recipe.metallic),
        roughness=_uniform(rng, recipe.roughness),
        specular=_uniform(rng, recipe.specular),
        sheen=_uniform(rng, recipe.sheen),
    )
