"""Registration of every family's classes with transformers' auto classes, without importing transformers.

`import uruk_hf` must stay cheap (`uruk --help` imports it), yet `AutoConfig`, `AutoModel` and
`AutoImageProcessor` must know our model types once it has run. So `install()` registers at once when
transformers' auto modules are already imported, and otherwise adds an import hook (a `sys.meta_path` finder
that wraps the loaders of transformers' and our own modules) that registers once an auto module is imported and
no such module is still half imported: transformers' modules import each other in cycles, and registering from
inside one of them (or from inside one of ours, which imports transformers) would import modules that are
half initialized. A family's
package (`uruk_hf.models.<family>`, the folder of its registry module) exports its config, model and processor
classes; every `PretrainedConfig` subclass with a `model_type` there is registered with the model classes whose
`config_class` it is (`AutoModel`, and `AutoModelForCausalLM` for models that generate), and with the package's
image processor.
"""

import importlib
import importlib.abc
import sys

__all__ = ["install", "register_auto_classes", "register_model_entries"]

_AUTO_MODULES = (
    "transformers.models.auto.configuration_auto",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.image_processing_auto",
)
_HOOKED_PACKAGES = ("transformers", "uruk_hf")
_state = {"done": False, "running": False, "depth": 0}


def _family_packages() -> list[str]:
    from .catalog import FAMILY_MODULES

    return sorted({module.rsplit(".", 1)[0] for module in FAMILY_MODULES.values()})


def register_auto_classes() -> None:
    """Registers every family's config, model and image processor classes with the auto classes (once)."""
    if _state["done"] or _state["running"]:
        return
    _state["running"] = True
    try:
        from transformers import (
            AutoConfig,
            AutoImageProcessor,
            AutoModel,
            AutoModelForCausalLM,
            PretrainedConfig,
            PreTrainedModel,
        )
        from transformers.image_processing_utils import BaseImageProcessor

        for package_name in _family_packages():
            package = importlib.import_module(package_name)
            exported = [getattr(package, name) for name in getattr(package, "__all__", [])]
            classes = [value for value in exported if isinstance(value, type)]
            processors = [cls for cls in classes if issubclass(cls, BaseImageProcessor)]
            for config_class in (cls for cls in classes if issubclass(cls, PretrainedConfig)):
                AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
                for model_class in classes:
                    if issubclass(model_class, PreTrainedModel) and model_class.config_class is config_class:
                        AutoModel.register(config_class, model_class, exist_ok=True)
                        if model_class.can_generate():  # a language model (WS8): also AutoModelForCausalLM
                            AutoModelForCausalLM.register(config_class, model_class, exist_ok=True)
                for processor in processors:
                    AutoImageProcessor.register(config_class, slow_image_processor_class=processor, exist_ok=True)
        _state["done"] = True
    finally:
        _state["running"] = False


def register_model_entries(models) -> None:
    """Registers the config and model classes of `models` (`catalog.ModelEntry`s of a family added at run time with
    `catalog.register_family`) with `AutoConfig` and `AutoModel`."""
    from transformers import AutoConfig, AutoModel

    for entry in models:
        AutoConfig.register(entry.config_class.model_type, entry.config_class, exist_ok=True)
        AutoModel.register(entry.config_class, entry.model_class, exist_ok=True)


class _RegisteringLoader(importlib.abc.Loader):
    """Delegates to the real loader, then registers our classes."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        _state["depth"] += 1
        try:
            self.loader.exec_module(module)
        finally:
            _state["depth"] -= 1
        if _state["depth"] == 0 and any(name in sys.modules for name in _AUTO_MODULES):
            register_auto_classes()

    def __getattr__(self, name):
        return getattr(self.loader, name)


class _AutoModuleFinder(importlib.abc.MetaPathFinder):
    """Finds transformers' and our modules with the other finders and wraps their loaders (until registered)."""

    def find_spec(self, fullname, path, target=None):
        if _state["done"] or fullname.partition(".")[0] not in _HOOKED_PACKAGES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Registers now if transformers' auto classes are already imported, else when they first are."""
    if any(name in sys.modules for name in _AUTO_MODULES):
        register_auto_classes()
    elif not any(isinstance(finder, _AutoModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AutoModuleFinder())
