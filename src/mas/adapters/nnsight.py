"""A model wrapped by nnsight behind the `ModelAdapter` interface, with sites named by module path.

`NNsight(module)` (or `LanguageModel(...)`) is used as it is: a site is a module path of the wrapped
model (`model.layers.0`, `transformer.h.3.mlp`), read as `.output` and written by assigning
`.output` inside `model.trace(...)`, so the wrapped model is never modified. A module whose output is
a tuple is read and written at its first item. A site must run once per forward pass with states
(B, L, d). `outputs` turns the traced model's output into logits (B, L, V): for a Hugging Face
model, `lambda out: out.logits`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume
from mas.errors import MasError

Outputs = Callable[[Any], torch.Tensor]


def _logits(output: Any) -> torch.Tensor:
    return output


class NNsightAdapter(ModelAdapter):
    """A frozen model wrapped by nnsight; `sites` are the wrapped module's paths."""

    def __init__(self, model: Any, outputs: Outputs = _logits, name: str = "nnsight") -> None:
        if not hasattr(model, "trace") or not isinstance(getattr(model, "_module", None), torch.nn.Module):
            raise MasError(f"{type(model).__name__} is not an nnsight model; wrap it first: NNsight(module)")
        self.model = model
        self.module: torch.nn.Module = model._module.eval().requires_grad_(False)
        self.outputs = outputs
        self.name = name
        self._paths = {path for path, _ in self.module.named_modules() if path}
        self._widths: dict[str, int] = {}

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(path for path, _ in self.module.named_modules() if path)

    @property
    def device(self) -> torch.device:
        first = next(self.module.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    def check_site(self, site: str) -> None:
        if site not in self._paths:
            raise MasError(f"unknown site {site!r} for model {self.name}: no submodule {site!r} (see `.sites`)")

    def width(self, site: str) -> int:
        if site not in self._widths:
            self._widths[site] = int(self.read(site, torch.zeros(1, 1, dtype=torch.long)).shape[-1])
        return self._widths[site]

    def _envoy(self, site: str) -> Any:
        """nnsight's proxy of the module at `site`."""
        envoy = self.model
        for part in site.split("."):
            envoy = envoy[int(part)] if part.isdigit() else getattr(envoy, part)
        return envoy

    def capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        self.check_site(site)
        envoy = self._envoy(site)
        with self.model.trace(tokens.to(self.device)):
            state = _first(envoy.output).save()
        return _checked(state, site).float()

    def run(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        resume: Resume | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, L, V); whole sequences run."""
        tokens = tokens.to(self.device)
        if intervention is None:
            with self.model.trace(tokens):
                output = self.model.output.save()
            return self.outputs(output)
        self.check_site(intervention.site)
        envoy = self._envoy(intervention.site)
        with self.model.trace(tokens):
            found = envoy.output
            state = _checked(_first(found), intervention.site)
            edited = intervention.apply(state.float()).to(state.dtype)
            envoy.output = (edited, *found[1:]) if isinstance(found, tuple) else edited
            output = self.model.output.save()
        return self.outputs(output)


def _first(output: Any) -> Any:
    return output[0] if isinstance(output, (tuple, list)) else output


def _checked(state: Any, site: str) -> torch.Tensor:
    if not isinstance(state, torch.Tensor) or state.dim() != 3:
        shape = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise MasError(f"site {site!r} gives {shape}; a site needs (batch, position, width) states once per pass")
    return state
