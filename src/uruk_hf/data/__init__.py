"""Scene data: synthetic and rendered G-buffers, named by `uruk_hf.schema` (never by a model class)."""
