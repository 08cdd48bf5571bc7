"""The `gbuffer_clips` dataset kind: procedural scenes rendered by Mitsuba 3 into the renderers' buffers."""
