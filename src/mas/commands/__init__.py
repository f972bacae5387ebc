"""Every `mas` command, one module each, on the app of `mas.commands._shared`; importing this package
registers them all (the main job's commands first, so `mas --help` lists them first)."""

import importlib
import pkgutil

from mas.commands._shared import app

FIRST = ("train", "align", "demo")
_rest = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in FIRST and not m.name.startswith("_"))
for _name in (*FIRST, *_rest):
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["app"]
