"""Neural building blocks shared by the model families (imported by `uruk_hf.models`, never the reverse)."""
