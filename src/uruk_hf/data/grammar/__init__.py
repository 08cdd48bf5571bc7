"""The `block_structures` dataset kind (WS8): block structures on a 32^3 grid, their token sequences, the shape
grammar that builds them, the validity rules and class classifier that score them, and their Mitsuba scenes."""
