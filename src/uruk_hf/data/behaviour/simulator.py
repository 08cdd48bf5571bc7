"""A tick-based NPC simulator: a grid map, a scripted player, and an NPC whose behaviour is a designer-style
finite-state machine (the kind behaviour trees and FSMs in shipped games implement).

Each tick the world builds the NPC's observation (`observe`: what its sensors give, with 2% of visibility readings
flipped), its controller picks a move from that observation alone (the FSM also keeps hidden timers and memories:
how long it has investigated, how long since it last saw the player, where it last saw or heard something), then
the world moves both agents and resolves hits and noise. The FSM's state is never part of the observation, and
the same observation is what a learned controller gets: `run_episode(..., controller=...)` lets a model drive the
NPC while an FSM, fed the same observations, gives the reference decision at every tick (closed-loop evaluation).
"""

import math
from dataclasses import dataclass

import numpy as np

from ...schema import NPC_OBSERVATION_FEATURES, NPC_STATES
from .maps import MOVES, GridMap

__all__ = [
    "NPC_STATES",
    "OBSERVATION_FEATURES",
    "EpisodeSettings",
    "NPCEpisode",
    "NPCStateMachine",
    "Observation",
    "run_episode",
]

OBSERVATION_FEATURES = NPC_OBSERVATION_FEATURES


@dataclass(frozen=True)
class EpisodeSettings:
    """The simulation's constants: the designer's FSM timers and the sensors.

    Attributes:
        ticks (`int`): ticks per episode.
        view_range (`int`): cells the NPC sees (and its ray sensors reach).
        field_of_view_degrees (`float`): the NPC sees the player within this cone around its facing (or within 2
            cells in any direction).
        sensor_noise (`float`): probability that the visibility reading is flipped on a tick.
        idle_ticks (`int`): ticks of idling at home before patrolling.
        investigate_ticks (`int`): ticks an investigation lasts after the last noise heard.
        alert_ticks (`int`): ticks of seeing the player before the chase starts.
        lose_sight_ticks (`int`): ticks without sight after which a chase is given up.
        flee_ticks (`int`): ticks of fleeing.
        flee_health (`float`): health under which a fight turns into flight.
        attack_range (`float`): distance (cells) within which the NPC starts attacking.
        attack_leave_range (`float`): distance beyond which it stops (hysteresis: no flicker at the range's edge).
        player_range (`int`): cells within which the player shoots a visible NPC.
    """

    ticks: int = 256
    view_range: int = 10
    field_of_view_degrees: float = 150.0
    sensor_noise: float = 0.02
    idle_ticks: int = 8
    investigate_ticks: int = 12
    alert_ticks: int = 3
    lose_sight_ticks: int = 8
    flee_ticks: int = 10
    flee_health: float = 0.35
    attack_range: float = 1.5
    attack_leave_range: float = 2.5
    player_range: int = 6


@dataclass
class Observation:
    """What the NPC's sensors give on one tick (`vector` is the model's input)."""

    vector: np.ndarray
    position: tuple[int, int]
    player_visible: bool
    player_position: tuple[int, int] | None
    noise_position: tuple[int, int] | None
    health: float
    ammo: float
    hit_taken: bool


@dataclass
class NPCStateMachine:
    """The designer's FSM over `NPC_STATES`: decides a state and a move from each observation, with hidden timers
    and memories. It reads the map to find paths (a navmesh, in an engine) and its patrol waypoints.

    Args:
        world: the map.
        home: its spawn cell (where it returns and reloads).
        waypoints: the patrol route.
        settings: the timers.
    """

    world: GridMap
    home: tuple[int, int]
    waypoints: list[tuple[int, int]]
    settings: EpisodeSettings
    state: int = 0
    timer: int = 0
    lost_sight: int = 0
    waypoint: int = 0
    target: tuple[int, int] | None = None
    last_seen: tuple[int, int] | None = None

    def __post_init__(self):
        self.timer = self.settings.idle_ticks

    def _enter(self, state: str, timer: int = 0, target=None) -> None:
        self.state, self.timer = NPC_STATES.index(state), timer
        if target is not None:
            self.target = target

    def step(self, observation: Observation) -> tuple[int, int]:
        """The state after this observation and the move to make, `(state, move)`."""
        s, position = self.settings, observation.position
        visible = observation.player_visible and observation.player_position is not None
        if visible:
            self.last_seen, self.lost_sight = observation.player_position, 0
        state = NPC_STATES[self.state]
        fighting = state in ("alert", "chase", "attack")
        if fighting and (observation.health < s.flee_health or observation.ammo <= 0.0):
            self._enter("flee", s.flee_ticks)
            state = "flee"
        elif state in ("idle", "patrol", "return", "investigate") and visible:
            self._enter("alert", s.alert_ticks)
            state = "alert"
        elif state in ("idle", "patrol", "return", "investigate") and observation.noise_position is not None:
            self._enter("investigate", s.investigate_ticks, observation.noise_position)
            state = "investigate"

        if state == "idle":
            self.timer -= 1
            if self.timer <= 0:
                self._enter("patrol")
            return self.state, 0
        if state == "patrol":
            if position == self.waypoints[self.waypoint]:
                self.waypoint = (self.waypoint + 1) % len(self.waypoints)
            return self.state, self.world.step_towards(position, self.waypoints[self.waypoint])
        if state == "investigate":
            self.timer -= 1
            if self.timer <= 0:
                self._enter("return")
                return self.state, self.world.step_towards(position, self.home)
            return self.state, self.world.step_towards(position, self.target)
        if state == "alert":
            if not visible:
                self._enter("investigate", s.investigate_ticks, self.last_seen)
                return self.state, self.world.step_towards(position, self.target)
            self.timer -= 1
            if self.timer <= 0:
                self._enter("chase")
            return self.state, 0
        if state == "chase":
            if not visible:
                self.lost_sight += 1
                if self.lost_sight >= s.lose_sight_ticks:
                    self._enter("return")
                    return self.state, self.world.step_towards(position, self.home)
            elif _distance(position, observation.player_position) <= s.attack_range:
                self._enter("attack")
                return self.state, 0
            return self.state, self.world.step_towards(position, self.last_seen)
        if state == "attack":
            if not visible or _distance(position, observation.player_position) > s.attack_leave_range:
                self._enter("chase")
                return self.state, self.world.step_towards(position, self.last_seen or position)
            if _distance(position, observation.player_position) > s.attack_range:
                return self.state, self.world.step_towards(position, observation.player_position)  # keep in reach
            return self.state, 0
        if state == "flee":
            self.timer -= 1
            if self.timer <= 0:
                self._enter("return")
                return self.state, self.world.step_towards(position, self.home)
            return self.state, self.world.step_away(position, self.last_seen or position)
        # return
        if position == self.home:
            self._enter("idle", s.idle_ticks)
            return self.state, 0
        return self.state, self.world.step_towards(position, self.home)


def _distance(a, b) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


@dataclass
class _Player:
    """The scripted player: walks to goals (sometimes the NPC: an aggressive player), makes noise, shoots a
    visible NPC in range. Its temperament is drawn per episode."""

    position: tuple[int, int]
    aggression: float
    noisiness: float
    speed: float
    accuracy: float
    goal: tuple[int, int] | None = None
    health: float = 1.0
    goal_ticks: int = 0


def _sees(world: GridMap, settings: EpisodeSettings, position, facing: float, target) -> bool:
    distance = _distance(position, target)
    if distance > settings.view_range or not world.line_of_sight(position, target):
        return False
    if distance <= 2.0:
        return True
    angle = math.atan2(target[0] - position[0], target[1] - position[1])
    difference = abs((angle - facing + math.pi) % (2 * math.pi) - math.pi)
    return difference <= math.radians(settings.field_of_view_degrees) / 2


class NPCEpisode:
    """One episode, a tick at a time: `observe()` gives the NPC's observation and the FSM's decision on it, `act`
    applies the driver's decision and moves the world on. `run_episode` drives one episode to its end; a batch of
    episodes can be stepped in lockstep (one model call per tick for all of them).

    Args:
        world: the map.
        seed: draws the NPC's home, patrol route, the player's start and temperament, noise, hits and sensor
            flips (the same seed gives the same episode for the same decisions).
        settings: the simulation constants.
    """

    def __init__(self, world: GridMap, seed: int, settings: EpisodeSettings = EpisodeSettings()):
        self.world, self.settings = world, settings
        self.rng = rng = np.random.default_rng([seed, 31337])
        floor = world.floor_cells
        self.home = floor[int(rng.integers(len(floor)))]
        waypoints = [floor[int(i)] for i in rng.choice(len(floor), size=int(rng.integers(2, 5)), replace=False)]
        self.far = [cell for cell in floor if world.distance(self.home, cell) >= 8] or floor
        self.player = _Player(
            position=self.far[int(rng.integers(len(self.far)))],
            aggression=float(rng.uniform(0.0, 0.6)),
            noisiness=float(rng.uniform(0.02, 0.15)),
            speed=float(rng.uniform(0.5, 1.0)),
            accuracy=float(rng.uniform(0.02, 0.1)),
        )
        self.fsm = NPCStateMachine(world, self.home, waypoints, settings)
        self.rays = world.ray_distances(settings.view_range) / settings.view_range
        self.position, self.facing, self.health, self.ammo = self.home, 0.0, 1.0, 1.0
        self.previous_move, self.hit_taken, self.tick = 0, False, 0
        self.observations, self.states, self.moves, self.reference = [], [], [], []
        self.first_sighting, self.hits, self.player_hits, self.flee_ticks = -1, 0, 0, 0
        self._visible = False

    def observe(self) -> tuple[np.ndarray, tuple[int, int]]:
        """This tick's observation vector and the FSM's `(state, move)` on it."""
        observation = self.sense()
        decision = self.fsm.step(observation)
        self.reference.append(decision)
        return observation.vector, decision

    def sense(self) -> Observation:
        """The NPC's sensors on this tick (draws the tick's sensor noise and the player's noise): world
        quantities only, never the FSM."""
        settings, world, player, position = self.settings, self.world, self.player, self.position
        truly_visible = _sees(world, settings, position, self.facing, player.position)
        if truly_visible and self.first_sighting < 0:
            self.first_sighting = self.tick
        visible = truly_visible != (self.rng.random() < settings.sensor_noise)
        noise = None
        if self.rng.random() < player.noisiness:
            loudness = float(self.rng.uniform(0.3, 1.0))
            if world.distance(position, player.position) <= loudness * 12:
                noise = (player.position, loudness)
        size = float(max(world.height, world.width))
        vector = np.zeros(len(OBSERVATION_FEATURES), np.float32)
        vector[0:2] = position[1] / size, position[0] / size
        vector[2:4] = math.sin(self.facing), math.cos(self.facing)
        vector[4:6] = self.health, self.ammo
        vector[6:14] = self.rays[position]
        if visible:
            dy, dx = player.position[0] - position[0], player.position[1] - position[1]
            span = settings.view_range
            vector[14:18] = 1.0, dx / span, dy / span, math.hypot(dx, dy) / span
        if noise is not None:
            vector[18] = 1.0
            vector[19:21] = (noise[0][1] - position[1]) / 12, (noise[0][0] - position[0]) / 12
            vector[21] = noise[1]
        vector[22 + self.previous_move] = 1.0
        vector[31] = float(self.hit_taken)
        vector[32:34] = (self.home[1] - position[1]) / size, (self.home[0] - position[0]) / size
        observation = Observation(
            vector, position, visible, player.position if visible else None,
            None if noise is None else noise[0], self.health, self.ammo, self.hit_taken,
        )  # fmt: skip
        self.observations.append(vector)
        self._visible = visible
        return observation

    def act(self, state: int, move: int) -> None:
        """Applies the driver's `(state, move)` for this tick, then the player's turn."""
        settings, world, player, rng = self.settings, self.world, self.player, self.rng
        self.states.append(state)
        self.moves.append(move)
        name = NPC_STATES[state]
        self.flee_ticks += name == "flee"
        if move and world.can_step(self.position, move):
            dy, dx = MOVES[move]
            self.position = (self.position[0] + dy, self.position[1] + dx)
            self.facing = math.atan2(dy, dx)
        elif name in ("alert", "attack") and self._visible:
            self.facing = math.atan2(player.position[0] - self.position[0], player.position[1] - self.position[1])
        in_reach = _distance(self.position, player.position) <= settings.attack_leave_range
        if name == "attack" and self.ammo > 0 and in_reach:
            self.ammo = max(0.0, self.ammo - 0.1)
            self.hits += 1
            player.health -= 0.25
        if self.position == self.home:
            self.ammo = 1.0
        if name in ("idle", "patrol", "return"):
            self.health = min(1.0, self.health + 0.02)
        self.previous_move = move

        self.hit_taken = False
        if (
            _distance(player.position, self.position) <= settings.player_range
            and world.line_of_sight(player.position, self.position)
            and rng.random() < player.accuracy
        ):
            self.health = max(0.0, self.health - 0.1)
            self.hit_taken, self.player_hits = True, self.player_hits + 1
        if player.health <= 0:
            respawn = self.far[int(rng.integers(len(self.far)))]
            player = self.player = _Player(respawn, player.aggression, player.noisiness, player.speed, player.accuracy)
        if player.goal is None or player.position == player.goal or player.goal_ticks <= 0:
            chase_npc = rng.random() < player.aggression
            floor = world.floor_cells
            player.goal = self.position if chase_npc else floor[int(rng.integers(len(floor)))]
            player.goal_ticks = int(rng.integers(10, 40))
        player.goal_ticks -= 1
        if rng.random() < player.speed:
            step = world.step_towards(player.position, player.goal)
            target = (player.position[0] + MOVES[step][0], player.position[1] + MOVES[step][1])
            if step and world.can_step(player.position, step) and target != self.position:
                player.position = target
        self.tick += 1

    def result(self) -> dict:
        """The episode's arrays and outcome (see `run_episode`)."""
        reference = np.asarray(self.reference, np.int8).reshape(-1, 2)
        return {
            "observations": np.stack(self.observations).astype(np.float32),
            "states": np.asarray(self.states, np.int8),
            "moves": np.asarray(self.moves, np.int8),
            "reference_states": reference[:, 0],
            "reference_moves": reference[:, 1],
            "first_sighting": self.first_sighting,
            "hits": self.hits,
            "player_hits": self.player_hits,
            "flee_ticks": self.flee_ticks,
        }


def run_episode(world: GridMap, seed: int, settings: EpisodeSettings = EpisodeSettings(), controller=None) -> dict:
    """Simulates one episode on `world` (see `NPCEpisode`) and returns its arrays and outcome.

    Args:
        world: the map.
        seed: the episode's seed.
        settings: the simulation constants.
        controller: `None` (the FSM drives the NPC), or a callable `(observations so far (t+1, F)) -> (state,
            move)` that drives it while the FSM, fed the same observations, gives the reference.

    Returns:
        `observations` (T, F) float32, `states` and `moves` (T,) int8 (the driver's), `reference_states` and
        `reference_moves` (the FSM's; the same as the driver's without a controller), and the outcome:
        `first_sighting` (tick the player was first truly visible, or -1), `hits` (the NPC's hits on the
        player), `player_hits` (the player's on the NPC), `flee_ticks`.
    """
    episode = NPCEpisode(world, seed, settings)
    for _ in range(settings.ticks):
        _, decision = episode.observe()
        episode.act(*(decision if controller is None else controller(np.stack(episode.observations))))
    return episode.result()
