"""A TransformerLens model behind the `ModelAdapter` interface, with sites named by hook name.

Works on any model that exposes TransformerLens's hook interface: `hook_dict` (hook name → hook
point) and `run_with_hooks(tokens, fwd_hooks=[(name, fn)])`, that is a 4.x `TransformerBridge`
(`TransformerBridge.boot_transformers(...)`, `boot_native(...)`) or an older `HookedTransformer`.
The model is used as it is: hooks read and write the states, nothing is subclassed or modified.

A site is a hook name (`blocks.0.hook_out`, `blocks.1.attn.hook_out`). States (B, L, d) are used as
they are; per-head states (B, L, H, d_head) are seen as (B, L, H·d_head), so a subspace may span
heads. Tokens are token ids (B, L), passed to the model without adding a BOS token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume
from mas.errors import MasError

# (the hook's activation, the hook point) -> the activation to hand on
HookFn = Callable[[torch.Tensor, Any], torch.Tensor]


class TransformerLensAdapter(ModelAdapter):
    """A frozen TransformerLens model; `sites` are its hook names."""

    def __init__(self, model: Any, name: str = "tl") -> None:
        if not hasattr(model, "run_with_hooks") or not hasattr(model, "hook_dict"):
            raise MasError(f"{type(model).__name__} is not a TransformerLens model (no run_with_hooks / hook_dict)")
        self.model = model.eval().requires_grad_(False)
        self.name = name
        self._widths: dict[str, int] = {}

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(self.model.hook_dict)

    @property
    def device(self) -> torch.device:
        first = next(self.model.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    def width(self, site: str) -> int:
        if site not in self._widths:
            self._widths[site] = int(self.read(site, torch.zeros(1, 1, dtype=torch.long)).shape[-1])
        return self._widths[site]

    def _forward(self, tokens: torch.Tensor, site: str, fn: HookFn) -> torch.Tensor:
        self.check_site(site)
        return self.model.run_with_hooks(tokens.to(self.device), fwd_hooks=[(site, fn)])

    def capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        states: list[torch.Tensor] = []

        def keep(activation: torch.Tensor, hook: Any) -> torch.Tensor:
            states.append(_flat(activation, site).float())
            return activation

        self._forward(tokens, site, keep)
        if not states:
            raise MasError(f"hook {site!r} of model {self.name} did not run on this input")
        return states[0]

    def run(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        resume: Resume | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, L, V); whole sequences run (the model has no resume)."""
        if intervention is None:
            return self.model(tokens.to(self.device))

        def edit(activation: torch.Tensor, hook: Any) -> torch.Tensor:
            edited = intervention.apply(_flat(activation, intervention.site).float())
            return edited.to(activation.dtype).reshape(activation.shape)

        return self._forward(tokens, intervention.site, edit)


def _flat(activation: torch.Tensor, site: str) -> torch.Tensor:
    """(B, L, d) as it is, (B, L, H, d_head) as (B, L, H·d_head); other shapes are no sites."""
    if activation.dim() == 3:
        return activation
    if activation.dim() == 4:
        return activation.flatten(2)
    raise MasError(f"hook {site!r} gives states of shape {tuple(activation.shape)}; a site needs "
                   "(batch, position, width) or (batch, position, head, width) states")
