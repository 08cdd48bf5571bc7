"""An analytic G-buffer of a small scene (spheres on a ground plane under one light), computed with numpy.

It exists so that demos and tests exercise every buffer of the schema with physically consistent values
(world-space normals and positions, distance depth, shadowed direct light, AO) without a renderer installed.
Training data comes from Mitsuba (`uruk_hf.data` rendering), not from here.
"""

import numpy as np

from ...schema import MATERIAL_CLASSES
from .relighting import specular_reflection

__all__ = ["synthetic_gbuffer"]


def _normalize(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True).clip(1e-8)


def synthetic_gbuffer(height: int = 256, width: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """Renders every buffer of `uruk_hf.schema.BUFFER_SPECS` (HWC float32) plus `material_label` (int64, -100 on
    background) for a seeded scene of three spheres on a plane, seen by a pinhole camera, lit by a point light
    (direct light and hard shadows by ray casting) under a uniform sky. `motion` is zero (static camera),
    `history` zeros with `history_valid` zeros (a clip's first frame), `path_1spp` is `direct` with per-pixel
    exponential noise standing in for path-tracing noise, and `path_half` the 2x2 block means of a second such
    frame (noise of 4 samples), repeated 2x2. The relighting inputs are the noise-free frame (`source_frame`), the
    light's visibility (`target_shadow`), its unshadowed irradiance (`target_irradiance`, and as the only light
    `target_key_irradiance`), its GGX specular reflection (`target_key_specular`) and the sky seen on background
    pixels (`source_emission`, `target_emission`).
    """
    rng = np.random.default_rng(seed)
    camera = np.array([0.0, 1.2, 4.0])
    target = np.array([0.0, 0.6, 0.0])
    forward = _normalize(target - camera)
    right = _normalize(np.cross(forward, [0.0, 1.0, 0.0]))
    up = np.cross(right, forward)
    aspect = width / height
    ys, xs = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    screen_x = (2.0 * xs / width - 1.0) * np.tan(np.radians(25.0)) * aspect
    screen_y = (1.0 - 2.0 * ys / height) * np.tan(np.radians(25.0))
    directions = _normalize(forward + screen_x[..., None] * right + screen_y[..., None] * up)

    centres = np.array([[-1.1, 0.5, 0.0], [0.2, 0.7, -0.6], [1.2, 0.4, 0.5]]) + rng.uniform(-0.2, 0.2, (3, 3))
    centres[:, 1] = [0.5, 0.7, 0.4]
    radii = centres[:, 1].copy()
    # object 0 is the ground plane y = 0; objects 1..3 the spheres
    albedos = rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32)
    roughness = rng.uniform(0.05, 0.9, 4).astype(np.float32)
    metallic = (rng.uniform(size=4) < 0.3).astype(np.float32)
    classes = rng.integers(0, len(MATERIAL_CLASSES), 4)
    object_ids = rng.permutation(np.arange(1, 255))[:4].astype(np.float32)

    def trace(origins, rays):
        """Nearest hit distance and object index (-1 on miss) for rays `origins + t * rays`."""
        distance = np.full(rays.shape[:-1], np.inf)
        index = np.full(rays.shape[:-1], -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            plane_t = -origins[..., 1] / rays[..., 1]
        hit = (plane_t > 1e-4) & (plane_t < distance)
        distance, index = np.where(hit, plane_t, distance), np.where(hit, 0, index)
        for number, (centre, radius) in enumerate(zip(centres, radii), start=1):
            offset = origins - centre
            b = np.sum(offset * rays, axis=-1)
            disc = b * b - (np.sum(offset * offset, axis=-1) - radius * radius)
            sphere_t = -b - np.sqrt(np.maximum(disc, 0.0))
            hit = (disc > 0) & (sphere_t > 1e-4) & (sphere_t < distance)
            distance, index = np.where(hit, sphere_t, distance), np.where(hit, number, index)
        return distance, index

    depth, index = trace(np.broadcast_to(camera, directions.shape), directions)
    mask = index >= 0
    depth = np.where(mask, depth, 0.0)
    position = camera + directions * depth[..., None]
    normal = np.zeros_like(position)
    normal[index == 0] = [0.0, 1.0, 0.0]
    for number, centre in enumerate(centres, start=1):
        normal[index == number] = _normalize(position[index == number] - centre)
    safe_index = np.maximum(index, 0)

    light = np.array([2.5, 4.0, 2.5])
    to_light = light - position
    light_distance = np.linalg.norm(to_light, axis=-1)
    to_light = _normalize(to_light)
    occluder_distance, _ = trace(position + normal * 1e-3, to_light)
    shadow = (mask & (occluder_distance >= light_distance)).astype(np.float32)
    cosine = np.clip(np.sum(normal * to_light, axis=-1), 0.0, None)
    albedo = np.where(mask[..., None], albedos[safe_index], 0.0)
    sky = np.array([0.35, 0.45, 0.6])
    unshadowed = 30.0 * cosine / (light_distance**2).clip(1e-6)
    irradiance = unshadowed * shadow
    ao = np.where(mask, 0.5 + 0.5 * normal[..., 1], 0.0) * np.where(index == 0, 0.8, 1.0)
    direct = np.where(mask[..., None], albedo / np.pi * irradiance[..., None], sky)
    noise = rng.exponential(1.0, direct.shape)
    indirect = direct + albedo * sky * ao[..., None]
    half = indirect * rng.exponential(1.0, direct.shape)
    half = np.pad(half, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    half = half.reshape(half.shape[0] // 2, 2, half.shape[1] // 2, 2, 3).mean(axis=(1, 3))

    key_irradiance = np.where(mask[..., None], unshadowed[..., None], 0.0).repeat(3, axis=-1)
    surface_roughness = np.where(mask, roughness[safe_index], 0.0)[..., None]
    surface_metallic = np.where(mask, metallic[safe_index], 0.0)[..., None]
    surface_specular = np.where(mask, 0.5, 0.0)[..., None]
    key_specular = specular_reflection(
        key_irradiance, normal, -directions, to_light, albedo, surface_roughness, surface_metallic, surface_specular
    )
    buffers = {
        "albedo": albedo,
        "normal": normal,
        "depth": depth[..., None],
        "roughness": surface_roughness,
        "metallic": surface_metallic,
        "specular": surface_specular,
        "emissive": np.zeros((height, width, 1)),
        "material_id": np.where(mask, object_ids[safe_index], 0.0)[..., None],
        "direct": direct,
        "path_1spp": indirect * noise,
        "path_half": half.repeat(2, axis=0).repeat(2, axis=1)[:height, :width],
        "position": position * mask[..., None],
        "view": np.where(mask[..., None], -directions, 0.0),
        "motion": np.zeros((height, width, 2)),
        "history": np.zeros((height, width, 3)),
        "history_valid": np.zeros((height, width, 1)),
        "uv": np.stack([xs / width, ys / height], axis=-1),
        "ao": ao[..., None],
        "shadow": shadow[..., None],
        "mask": mask[..., None],
        "source_frame": indirect,
        "target_shadow": shadow[..., None],
        "target_irradiance": np.where(mask[..., None], unshadowed[..., None], 0.0).repeat(3, axis=-1),
        "target_key_irradiance": key_irradiance,
        "target_key_specular": key_specular,
        "source_emission": np.where(mask[..., None], 0.0, sky),
        "target_emission": np.where(mask[..., None], 0.0, sky),
    }
    result = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in buffers.items()}
    result["material_label"] = np.where(mask, classes[safe_index], -100).astype(np.int64)
    return result
