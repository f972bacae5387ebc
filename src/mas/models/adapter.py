"""The one interface every model is used through: read a site, run on from an intervened state.

`mas.align` and `mas.evaluate` only ever see a `ModelAdapter`; they never ask what is inside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from mas.errors import MasError
from mas.models.intervention import Intervention
from mas.models.resume import Resume, no_outputs


class ModelAdapter(ABC):
    """A frozen model seen from outside: sites to read and write, and outputs after an edit."""

    name: str

    @property
    @abstractmethod
    def sites(self) -> tuple[str, ...]:
        """The site names this model exposes, e.g. ("embed", "hidden") or ("embed", "layers.0", ...)."""

    @abstractmethod
    def width(self, site: str) -> int:
        """The dimension of the state at `site`."""

    @abstractmethod
    def _capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        """States (B, L, d) at `site` for teacher-forced `tokens`."""

    @abstractmethod
    def run(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        resume: Resume | None = None,
    ) -> torch.Tensor:
        """Logits (B, L, V) with `intervention` applied; free-running where `feed_mask` is True.

        `output_mask` (B, L) names the positions whose logits are used; an adapter may leave the
        others zero to save work. With `resume` (from this adapter's `resume_states`), nothing
        changes before each row's start, so the adapter may run from there.
        """

    def resume_states(self, site: str, tokens: torch.Tensor, start: torch.Tensor) -> torch.Tensor | None:
        """What `run` needs to start each row of `tokens` at `start` rather than at 0, for an
        intervention at `site`; None where this adapter always runs whole sequences."""
        return None

    def resume_fits(self, site: str, start: torch.Tensor) -> bool:
        """Whether a record to resume rows starting at `start` is small enough to keep (see `read_resume`)."""
        return True

    def resumes(self, free_running: bool) -> bool:
        """Whether `run` starts from a given `resume` on such runs, so callers record one only then."""
        return True

    @property
    def device(self) -> torch.device:
        """Where token ids go."""
        return torch.device("cpu")

    def site_device(self, site: str) -> torch.device:
        """Where states at `site` live, and so where this model's map, edits and losses there belong.

        The same as `device` unless the model spans several devices.
        """
        return self.device

    def check_site(self, site: str) -> None:
        if site not in self.sites:
            raise MasError(f"unknown site {site!r} for model {self.name}; sites: {', '.join(self.sites)}")

    @torch.no_grad()
    def read(self, site: str, tokens: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """States (B, L, d) at `site`, in chunks of rows; NaN or inf states are refused."""
        self.check_site(site)
        if tokens.shape[0] == 0:
            raise MasError("no sequences to read activations from (empty dataset)")
        chunks = [self._capture(site, tokens[i : i + batch_size].to(self.device)) for i in range(0, len(tokens), batch_size)]
        states = torch.cat(chunks)
        if not torch.isfinite(states).all():
            raise MasError(f"model {self.name} produced NaN or inf activations at site {site!r}")
        return states


class TaskModelAdapter(ModelAdapter):
    """Adapter for the task models `mas` trains (GRU, transformer)."""

    def __init__(self, model: nn.Module, name: str = "model", device: str | torch.device | None = None) -> None:
        """`device` moves the model there; by default it stays where it is."""
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

    def _capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
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
        if not hasattr(self.model, "resume_states"):
            return None
        return self.model.resume_states(site, tokens.to(self.device), start.to(self.device))

