"""One folder per model family: `configuration_<family>.py` and `modeling_<family>.py`."""
