"""The `world_maps` dataset kind (WS3): world maps (height, surface material, props), the knobs measured from a
map, the procedural terrain generator that a knob vector steers, and the maps' Mitsuba scenes and walkable grids."""
