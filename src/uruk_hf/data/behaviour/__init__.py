"""The `npc_episodes` dataset kind: grid maps, the tick simulator with its designer FSM, decision metrics, and the
generator that writes episodes with their baselines and card."""
