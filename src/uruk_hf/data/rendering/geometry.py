"""Small geometry helpers for scene generation: affine matrices, procedural meshes and the pinhole camera model.

The camera model matches Mitsuba's `perspective` sensor (`fov_axis="x"`, `look_at`), which the data tests check
against `Sensor.sample_ray`; motion vectors are computed with it.
"""

import numpy as np

__all__ = [
    "displaced_sphere_mesh",
    "extruded_polygon_mesh",
    "look_at_basis",
    "place_mesh",
    "project_points",
    "rotation_x",
    "rotation_y",
    "scale",
    "translation",
    "vertex_normals",
]


def translation(offset) -> np.ndarray:
    """4x4 translation matrix."""
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return matrix


def scale(factors) -> np.ndarray:
    """4x4 scaling matrix (a scalar or three factors)."""
    return np.diag([*np.broadcast_to(np.asarray(factors, float), (3,)), 1.0])


def rotation_y(angle: float) -> np.ndarray:
    """4x4 rotation about +y by `angle` radians."""
    cos, sin = np.cos(angle), np.sin(angle)
    matrix = np.eye(4)
    matrix[0, 0], matrix[0, 2], matrix[2, 0], matrix[2, 2] = cos, sin, -sin, cos
    return matrix


def rotation_x(angle: float) -> np.ndarray:
    """4x4 rotation about +x by `angle` radians."""
    cos, sin = np.cos(angle), np.sin(angle)
    matrix = np.eye(4)
    matrix[1, 1], matrix[1, 2], matrix[2, 1], matrix[2, 2] = cos, -sin, sin, cos
    return matrix


def place_mesh(mesh: tuple, place: np.ndarray) -> tuple:
    """`(vertices, faces, uvs, normals)` moved by the rigid 4x4 transform `place` (positions and normals,
    float32); faces and uvs unchanged."""
    vertices, faces, uvs, normals = mesh
    world = np.column_stack([vertices, np.ones(len(vertices))]) @ place.T
    return world[:, :3].astype(np.float32), faces, uvs, (normals @ place[:3, :3].T).astype(np.float32)


def _orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flips faces whose winding points their normal towards the mesh centre (meshes here are star-shaped)."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    normals = np.cross(b - a, c - a)
    outward = (a + b + c) / 3.0 - vertices.mean(axis=0)
    flip = np.sum(normals * outward, axis=1) < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return faces


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals: smooth across shared vertices, flat where faces have their own vertices."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    face_normals = np.cross(b - a, c - a)
    normals = np.zeros_like(vertices, dtype=np.float64)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    # Vertices touched only by degenerate faces (a UV sphere's pole copies) point away from the mesh centre.
    unused = np.linalg.norm(normals, axis=1) < 1e-12
    normals[unused] = vertices[unused] - vertices.mean(axis=0)
    return (normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def extruded_polygon_mesh(polygon: np.ndarray, height: float, smooth_sides: bool = False) -> tuple:
    """A closed prism: the star-shaped 2D `polygon` (n, 2) in the xz plane extruded from y=0 to y=`height`.

    Returns `(vertices (V, 3), faces (F, 3) uint32, uvs (V, 2), normals (V, 3))`. Caps have their own vertices so
    their edges stay sharp; sides share vertices (a smooth cylinder) with `smooth_sides`, else each side face has
    its own (a box, a prism). Side uvs run along the perimeter (u) and up the height (v); caps use planar uvs.
    """
    count = len(polygon)
    closed = np.vstack([polygon, polygon[:1]])
    perimeter = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    u = perimeter / perimeter[-1]
    vertices, uvs, faces = [], [], []

    def add(points, coords) -> int:
        offset = sum(len(block) for block in vertices)
        vertices.append(np.asarray(points, float))
        uvs.append(np.asarray(coords, float))
        return offset

    def ring(level, index):
        return [closed[index, 0], level, closed[index, 1]]

    if smooth_sides:
        offset = add(
            [ring(level, i) for level in (0.0, height) for i in range(count + 1)],
            [[u[i], level / height] for level in (0.0, height) for i in range(count + 1)],
        )
        for i in range(count):
            faces += [
                [offset + i, offset + i + 1, offset + count + 2 + i],
                [offset + i, offset + count + 2 + i, offset + count + 1 + i],
            ]
    else:
        for i in range(count):
            offset = add(
                [ring(0.0, i), ring(0.0, i + 1), ring(height, i + 1), ring(height, i)],
                [[u[i], 0.0], [u[i + 1], 0.0], [u[i + 1], 1.0], [u[i], 1.0]],
            )
            faces += [[offset, offset + 1, offset + 2], [offset, offset + 2, offset + 3]]
    extent = np.abs(polygon).max() * 2.0
    for level in (0.0, height):
        cap = np.vstack(
            [
                [polygon[:, 0].mean(), level, polygon[:, 1].mean()],
                np.column_stack([polygon[:, 0], np.full(count, level), polygon[:, 1]]),
            ]
        )
        offset = add(cap, cap[:, [0, 2]] / extent + 0.5)
        faces += [[offset, offset + 1 + i, offset + 1 + (i + 1) % count] for i in range(count)]
    vertices = np.vstack(vertices)
    faces = _orient_outward(vertices, np.array(faces))
    return (
        vertices.astype(np.float32),
        faces.astype(np.uint32),
        np.vstack(uvs).astype(np.float32),
        vertex_normals(vertices, faces),
    )


def displaced_sphere_mesh(
    radius: float, rng: np.random.Generator, roughness: float = 0.2, rings: int = 16, segments: int = 24
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rock-like closed mesh: a UV sphere whose radius is displaced by a sum of random waves over direction
    (`roughness=0` gives a smooth sphere).

    Returns `(vertices, faces, uvs, normals)`, the lowest point at y = 0.
    """
    theta = np.linspace(0.0, np.pi, rings + 1)
    phi = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    theta_grid, phi_grid = np.meshgrid(theta, phi, indexing="ij")
    directions = np.stack(
        [np.sin(theta_grid) * np.cos(phi_grid), np.cos(theta_grid), np.sin(theta_grid) * np.sin(phi_grid)], axis=-1
    )
    waves = rng.normal(size=(6, 3)) * rng.uniform(1.0, 4.0, (6, 1))
    phases = rng.uniform(0, 2 * np.pi, 6)
    amplitudes = rng.uniform(0.3, 1.0, 6)
    displacement = np.tensordot(np.sin(directions @ waves.T + phases), amplitudes, axes=1) / amplitudes.sum()
    displacement[:, -1] = displacement[:, 0]  # the seam shares positions
    vertices = directions * (radius * (1.0 + roughness * displacement))[..., None]
    uvs = np.stack([phi_grid / (2 * np.pi), theta_grid / np.pi], axis=-1)
    faces = []
    width = segments + 1
    for ring in range(rings):
        for segment in range(segments):
            a, b = ring * width + segment, ring * width + segment + 1
            c, d = a + width, b + width
            faces += [[a, c, b], [b, c, d]]
    vertices = vertices.reshape(-1, 3)
    vertices[:, 1] -= vertices[:, 1].min()
    faces = np.array(faces)
    area = np.linalg.norm(
        np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]]), axis=1
    )
    faces = _orient_outward(vertices, faces[area > 1e-10])
    return (
        vertices.astype(np.float32),
        faces.astype(np.uint32),
        uvs.reshape(-1, 2).astype(np.float32),
        vertex_normals(vertices, faces),
    )


def look_at_basis(origin, target, up=(0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera frame Mitsuba's `look_at` builds: (forward, image-right, image-up) unit vectors."""
    forward = np.asarray(target, float) - np.asarray(origin, float)
    forward /= np.linalg.norm(forward)
    left = np.cross(np.asarray(up, float), forward)
    left /= np.linalg.norm(left)
    image_up = np.cross(forward, left)
    return forward, -left, image_up


def project_points(
    points: np.ndarray, origin, target, fov_x_degrees: float, width: int, height: int, at_infinity: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates `(x, y)` (pixel centres at `i + 0.5`, y down) of world `points` (..., 3) seen
    by a perspective camera; with `at_infinity`, `points` are directions (background). Also returns whether each
    point lies in front of the camera."""
    forward, right, image_up = look_at_basis(origin, target)
    offsets = points if at_infinity else points - np.asarray(origin, float)
    depth = offsets @ forward
    tan_x = np.tan(np.radians(fov_x_degrees) / 2.0)
    tan_y = tan_x * height / width
    safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
    x = (1.0 + (offsets @ right) / safe / tan_x) * width / 2.0
    y = (1.0 - (offsets @ image_up) / safe / tan_y) * height / 2.0
    return np.stack([x, y], axis=-1), depth > 1e-6
