"""Decision metrics of an NPC controller against the FSM's labels: per-tick and on the ticks where the state
changes, the ones a per-tick headline hides (copying the previous state is right on every other tick)."""

import numpy as np

from .simulator import NPC_STATES

__all__ = ["decision_metrics", "transition_mask"]


def transition_mask(states: np.ndarray) -> np.ndarray:
    """`(N, T)` booleans: ticks whose true state differs from the previous tick's (never the first tick)."""
    mask = np.zeros(states.shape, bool)
    mask[:, 1:] = states[:, 1:] != states[:, :-1]
    return mask


def decision_metrics(
    predicted_states: np.ndarray, predicted_moves: np.ndarray, states: np.ndarray, moves: np.ndarray
) -> dict[str, float]:
    """State accuracy, macro-F1 over the states that occur, accuracy on transition ticks, and move accuracy,
    all over `(N, T)` arrays of episodes; `ticks` and `transition_ticks` count what they were measured on."""
    transitions = transition_mask(states)
    f1 = []
    for state in range(len(NPC_STATES)):
        true, predicted = states == state, predicted_states == state
        if not true.any():
            continue
        hits = float((true & predicted).sum())
        f1.append(2 * hits / (true.sum() + predicted.sum()))
    return {
        "state_accuracy": float((predicted_states == states).mean()),
        "state_macro_f1": float(np.mean(f1)),
        "transition_accuracy": float((predicted_states == states)[transitions].mean()) if transitions.any() else 0.0,
        "move_accuracy": float((predicted_moves == moves).mean()),
        "ticks": int(states.size),
        "transition_ticks": int(transitions.sum()),
    }
