"""The one interface every model is used through: read a site, run on from an intervened state.

`mas.align` and `mas.evaluate` only ever see a `ModelAdapter`; they never ask what is inside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume
from mas.errors import MasError


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
    def capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
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
    def continue_greedily(self, prompts: torch.Tensor, length: int) -> torch.Tensor:
        """`prompts` (B, P), on this adapter's device, continued by the model's own argmax next token to
        `length` tokens. This runs the whole sequence again for every new token; an adapter that keeps
        past keys and values overrides it."""
        tokens = prompts
        while tokens.shape[1] < length:
            tokens = torch.cat([tokens, self.run(tokens)[:, -1].argmax(-1, keepdim=True)], dim=1)
        return tokens

    @torch.no_grad()
    def read(self, site: str, tokens: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """States (B, L, d) at `site`, in chunks of rows; NaN or inf states are refused."""
        self.check_site(site)
        if tokens.shape[0] == 0:
            raise MasError("no sequences to read activations from (empty dataset)")
        chunks = [self.capture(site, tokens[i : i + batch_size].to(self.device)) for i in range(0, len(tokens), batch_size)]
        states = torch.cat(chunks)
        if not torch.isfinite(states).all():
            raise MasError(f"model {self.name} produced NaN or inf activations at site {site!r}")
        return states
