"""Procedural grid maps for gameplay simulation: rooms joined by corridors, with cover.

A map is a `(height, width)` int8 grid of `FLOOR`, `WALL` and `COVER` cells (`GridMap.cells`), the format the
world-authoring family will also write. Movement is to the 8 neighbours (a diagonal step needs both orthogonal
cells free: no cutting corners); walls and cover block movement and sight. All-pairs path distances come from one
breadth-first search per floor cell in `scipy.sparse.csgraph`, so a simulation step never searches a path.
"""

import itertools
from dataclasses import dataclass, field

import numpy as np

__all__ = ["COVER", "FLOOR", "MOVES", "WALL", "GridMap", "generate_map"]

FLOOR, WALL, COVER = 0, 1, 2

MOVES = ((0, 0), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
"""The 9 moves as `(dy, dx)`: stay, then N, NE, E, SE, S, SW, W, NW (north is -y)."""

RAY_DIRECTIONS = MOVES[1:]
"""The 8 world-frame directions of the ray sensors, in the order of `MOVES[1:]`."""


@dataclass
class GridMap:
    """A grid map and what simulation reads from it.

    Attributes:
        cells (`np.ndarray` of shape `(height, width)`, int8): `FLOOR`, `WALL` or `COVER` per cell.
        rooms (`list[tuple[int, int, int, int]]`): each room as `(top, left, bottom, right)`, exclusive ends.
    """

    cells: np.ndarray
    rooms: list[tuple[int, int, int, int]] = field(default_factory=list)

    def __post_init__(self):
        self.height, self.width = self.cells.shape
        self.free = self.cells == FLOOR
        self.floor_cells = [tuple(int(v) for v in cell) for cell in np.argwhere(self.free)]
        self._index = {cell: index for index, cell in enumerate(self.floor_cells)}
        self._distances = None

    def passable(self, y: int, x: int) -> bool:
        return 0 <= y < self.height and 0 <= x < self.width and bool(self.free[y, x])

    def can_step(self, position: tuple[int, int], move: int) -> bool:
        """Whether `move` from `position` lands on a free cell without cutting a corner."""
        dy, dx = MOVES[move]
        y, x = position
        if not self.passable(y + dy, x + dx):
            return False
        return dy == 0 or dx == 0 or (self.passable(y + dy, x) and self.passable(y, x + dx))

    def distances(self) -> np.ndarray:
        """Path lengths in steps between every pair of floor cells (`inf` where unreachable), indexed like
        `floor_cells`."""
        if self._distances is None:
            from scipy.sparse import csr_matrix
            from scipy.sparse.csgraph import shortest_path

            rows, columns = [], []
            for index, cell in enumerate(self.floor_cells):
                for move in range(1, 9):
                    if self.can_step(cell, move):
                        dy, dx = MOVES[move]
                        rows.append(index)
                        columns.append(self._index[(cell[0] + dy, cell[1] + dx)])
            size = len(self.floor_cells)
            graph = csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(size, size))
            self._distances = shortest_path(graph, unweighted=True, directed=True)
        return self._distances

    def distance(self, a: tuple[int, int], b: tuple[int, int]) -> float:
        """Steps of the shortest path from `a` to `b`."""
        return float(self.distances()[self._index[a], self._index[b]])

    def step_towards(self, position: tuple[int, int], target: tuple[int, int]) -> int:
        """The move that shortens the path from `position` to `target` most (0 when there already or
        unreachable); ties go to the first move in `MOVES` order."""
        row = self.distances()[:, self._index[target]]
        best, best_distance = 0, row[self._index[position]]
        for move in range(1, 9):
            if self.can_step(position, move):
                dy, dx = MOVES[move]
                candidate = row[self._index[(position[0] + dy, position[1] + dx)]]
                if candidate < best_distance:
                    best, best_distance = move, candidate
        return best

    def step_away(self, position: tuple[int, int], threat: tuple[int, int]) -> int:
        """The move that lengthens the path from `threat` to the mover most (0 when none does)."""
        row = self.distances()[self._index[threat]]
        best, best_distance = 0, row[self._index[position]]
        for move in range(1, 9):
            if self.can_step(position, move):
                dy, dx = MOVES[move]
                candidate = row[self._index[(position[0] + dy, position[1] + dx)]]
                if np.isfinite(candidate) and candidate > best_distance:
                    best, best_distance = move, candidate
        return best

    def line_of_sight(self, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Whether no wall or cover cell lies on the straight line between the centres of `a` and `b`."""
        (y0, x0), (y1, x1) = a, b
        steps = max(abs(y1 - y0), abs(x1 - x0)) * 2
        for step in range(1, steps):
            t = step / steps
            y, x = round(y0 + (y1 - y0) * t), round(x0 + (x1 - x0) * t)
            if not self.free[y, x] and (y, x) != (y1, x1):
                return False
        return True

    def ray_distances(self, max_range: int) -> np.ndarray:
        """`(height, width, 8)` free cells along each of `RAY_DIRECTIONS` before a blocked cell, capped at
        `max_range`, for every cell."""
        rays = np.zeros((self.height, self.width, 8), np.float32)
        for y, x in self.floor_cells:
            for direction, (dy, dx) in enumerate(RAY_DIRECTIONS):
                length = 0
                while length < max_range and self.passable(y + dy * (length + 1), x + dx * (length + 1)):
                    length += 1
                rays[y, x, direction] = length
        return rays


def _carve_corridor(cells: np.ndarray, a: tuple[int, int], b: tuple[int, int], rng: np.random.Generator) -> None:
    """An L-shaped corridor between room centres `a` and `b`, one or two cells wide."""
    width = int(rng.integers(1, 3))
    corner = (a[0], b[1]) if rng.random() < 0.5 else (b[0], a[1])
    for (ya, xa), (yb, xb) in ((a, corner), (corner, b)):
        cells[min(ya, yb) : max(ya, yb) + width, min(xa, xb) : max(xa, xb) + width] = FLOOR


def _connected(cells: np.ndarray) -> bool:
    from scipy.ndimage import label

    _, count = label(cells == FLOOR, structure=np.ones((3, 3)))
    return count == 1


def generate_map(rng: np.random.Generator, size: int = 24) -> GridMap:
    """A `size x size` map: 4 to 7 rooms (4 to 8 cells a side) joined in a chain by corridors, cover blocks
    inside rooms that never disconnect the floor, walls around the edge."""
    cells = np.full((size, size), WALL, np.int8)
    rooms = []
    for _ in range(200):
        if len(rooms) >= int(rng.integers(4, 8)):
            break
        height, width = (int(v) for v in rng.integers(4, 9, size=2))
        top, left = int(rng.integers(1, size - height - 1)), int(rng.integers(1, size - width - 1))
        room = (top, left, top + height, left + width)
        if all(
            room[0] > other[2] or room[2] < other[0] or room[1] > other[3] or room[3] < other[1] for other in rooms
        ):
            rooms.append(room)
            cells[top : top + height, left : left + width] = FLOOR
    rooms.sort(key=lambda room: (room[0] + room[2], room[1] + room[3]))
    centres = [((room[0] + room[2]) // 2, (room[1] + room[3]) // 2) for room in rooms]
    for a, b in itertools.pairwise(centres):
        _carve_corridor(cells, a, b, rng)
    cells[0, :] = cells[-1, :] = cells[:, 0] = cells[:, -1] = WALL
    for top, left, bottom, right in rooms:
        for _ in range(int(rng.integers(0, 4))):
            y = int(rng.integers(top + 1, max(top + 2, bottom - 1)))
            x = int(rng.integers(left + 1, max(left + 2, right - 1)))
            if cells[y, x] == FLOOR:
                cells[y, x] = COVER
                if not _connected(cells):
                    cells[y, x] = FLOOR
    return GridMap(cells, rooms)
