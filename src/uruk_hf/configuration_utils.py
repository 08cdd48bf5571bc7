"""What every Uruk config checks when it is read from a file: the model type, and the fields that decide weights.

transformers only logs a warning when a config of one model type is loaded by another's class, and fills any
field missing from `config.json` with the class's default; for our models either gives a model that is silently
wrong (another family's layout, or a trunk whose size is not the file's). `UrukConfigMixin` turns both into
errors that name the file, both model types or the missing fields.
"""

import os

__all__ = ["UrukConfigMixin"]


class UrukConfigMixin:
    """Mixed into a family's `PretrainedConfig` subclass (before it): `from_pretrained` and `from_dict` refuse a
    config of another model type and one that lacks any of `required_fields`.

    Attributes:
        required_fields (`tuple[str, ...]`): fields without which the weights cannot be rebuilt (widths, depths,
            layouts). Fields added later, whose defaults reproduce the older behaviour, are not listed, so older
            files keep loading.
        presets (`dict`): the rows of `from_preset`, by preset name (and by role when `default_role` is set).
        default_role (`str`, *optional*): the role of `from_preset` when none is given, in families whose presets
            are keyed by role (the config then takes a `role` field); `None` for one-model families.
    """

    required_fields: tuple[str, ...] = ()
    presets: dict = {}
    default_role: str | None = None

    @classmethod
    def from_preset(cls, name: str, role: str | None = None, **kwargs):
        """The config of preset `name` (`tiny`, `quick`, `full`); `kwargs` override any field. Families with several
        models of one class (a teacher and a student, a rerun) set `default_role` and key each preset by role
        (`cls.presets[name][role]`, `role` defaulting to `default_role`); the others have one row per preset.

        Raises:
            ValueError: `name` is not a preset, or `role` is not a role of this family.
        """
        from .presets import PRESET_NAMES

        if name not in PRESET_NAMES:
            raise ValueError(f"Unknown preset {name!r} for {cls.__name__}; choose one of {list(PRESET_NAMES)}.")
        if cls.default_role is None:
            if role is not None:
                raise ValueError(f"Unknown role {role!r} for {cls.__name__}: the family has no teacher or student.")
            return cls(**{**cls.presets[name], **kwargs})
        role = role or cls.default_role
        if role not in cls.presets[name]:
            raise ValueError(f"Unknown role {role!r} for {cls.__name__}; choose one of {sorted(cls.presets[name])}.")
        return cls(**{**cls.presets[name][role], **kwargs}, role=role)

    @classmethod
    def check_config_dict(cls, config_dict: dict, source: str) -> None:
        """Raises `ValueError` naming `source` when `config_dict` is of another model type than this class or lacks
        any of `required_fields`."""
        found = config_dict.get("model_type")
        if cls.model_type and found is not None and found != cls.model_type:
            raise ValueError(
                f"{source} holds a {found!r} model, but {cls.__name__} is {cls.model_type!r}: load it with its own "
                "class, or with AutoModel / AutoConfig, which pick the class from the file."
            )
        missing = [field for field in cls.required_fields if field not in config_dict]
        if missing:
            raise ValueError(
                f"{source} lacks the fields {missing} that {cls.__name__} needs to rebuild the model's weights "
                "(they have no safe default): restore them from the file the model was saved with."
            )

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        config_dict, unused = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        source = str(pretrained_model_name_or_path)
        if not source.endswith(".json"):
            source = os.path.join(source, kwargs.get("subfolder") or "", "config.json")
        cls.check_config_dict(config_dict, source)
        return config_dict, unused

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        cls.check_config_dict(config_dict, "the config")
        return super().from_dict(config_dict, **kwargs)
