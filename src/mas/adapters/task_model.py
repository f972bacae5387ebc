"""The adapter for the task models `mas` trains, and what such a model must offer."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume, no_outputs
from mas.errors import MasError


@runtime_checkable
class TaskModel(Protocol):
    """What `TaskModelAdapter` calls: a module with named sites that runs with an edit applied."""

    sites: tuple[str, ...]
    recurrent: bool

    def site_width(self, site: str) -> int: ...

    def __call__(self, tokens: torch.Tensor, intervention: Intervention | None = None,
                 feed_mask: torch.Tensor | None = None, capture: str | None = None,
                 output_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]: ...


@runtime_checkable
class ResumableTaskModel(Protocol):
    """A task model that can start rows part-way through from recorded states (optional, for speed)."""

    def resume_states(self, site: str, tokens: torch.Tensor, start: torch.Tensor) -> torch.Tensor: ...

    def resume(self, tokens: torch.Tensor, resume: Resume, intervention: Intervention | None,
               feed_mask: torch.Tensor | None, output_mask: torch.Tensor | None) -> torch.Tensor: ...


class TaskModelAdapter(ModelAdapter):
    """Adapter for the task models `mas` trains (GRU, transformer)."""

    def __init__(self, model: nn.Module, name: str = "model", device: str | torch.device | None = None) -> None:
        """`device` moves the model there; by default it stays where it is."""
        if not isinstance(model, TaskModel):
            raise MasError(f"{type(model).__name__} is not a task model (sites, recurrent, site_width, forward with "
                           "intervention and capture); wrap other modules in ModuleAdapter")
        self.model = model.eval().requires_grad_(False)
        if device is not None:
            self.model.to(device)
        self.name = name

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(self.model.sites)

    def width(self, site: str) -> int:
        self.check_site(site)
        return self.model.site_width(site)

    def capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens, capture=site, output_mask=no_outputs(tokens))[1]

    def run(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        resume: Resume | None = None,
    ) -> torch.Tensor:
        if intervention is not None:
            self.check_site(intervention.site)
        if resume is not None and self.resumes(feed_mask is not None):
            return self.model.resume(tokens, resume, intervention, feed_mask, output_mask)
        return self.model(tokens, intervention, feed_mask, output_mask=output_mask)[0]

    def resumes(self, free_running: bool) -> bool:
        """A transformer free-runs from position 0, decoding from its own cached keys and values."""
        return not free_running or self.model.recurrent

    @torch.no_grad()
    def resume_states(self, site: str, tokens: torch.Tensor, start: torch.Tensor) -> torch.Tensor | None:
        """The model's own `resume_states`; None for a model without one, which then runs whole sequences."""
        if not isinstance(self.model, ResumableTaskModel):
            return None
        return self.model.resume_states(site, tokens.to(self.device), start.to(self.device))

