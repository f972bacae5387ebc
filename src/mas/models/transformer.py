"""The 2-layer causal transformer task model: rotary positions, pre-LayerNorm, GELU feed-forward.

Rotary embeddings are a few lines here: torch has no rotary module, and pulling in a model library
for a 2-layer network would cost more than it saves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mas.models.intervention import Intervention
from mas.models.resume import Resume, last_true


def rotate(x: torch.Tensor, base: float = 10_000.0) -> torch.Tensor:
    """Apply rotary position embedding to (B, heads, L, head_dim)."""
    length, dim = x.shape[-2], x.shape[-1]
    freqs = base ** (-torch.arange(0, dim, 2, device=x.device, dtype=torch.float32) / dim)
    angles = torch.arange(length, device=x.device, dtype=torch.float32)[:, None] * freqs[None]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1).flatten(-2)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, ff_width: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, ff_width), nn.GELU(), nn.Linear(ff_width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(rotate(q), rotate(k), v, is_causal=True)
        x = x + self.proj(attended.transpose(1, 2).reshape(batch, length, width))
        return x + self.ff(self.norm2(x))


class TransformerModel(nn.Module):
    """Sites: `embed` (token embeddings) and `layers.<i>` (the residual stream after block i)."""

    recurrent = False

    def __init__(
        self, vocab_size: int, width: int = 128, layers: int = 2, heads: int = 4, ff_width: int = 512
    ) -> None:
        super().__init__()
        self.width = width
        self.embed = nn.Embedding(vocab_size, width)
        self.blocks = nn.ModuleList(Block(width, heads, ff_width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.unembed = nn.Linear(width, vocab_size)
        self.sites = ("embed",) + tuple(f"layers.{i}" for i in range(layers))

    def site_width(self, site: str) -> int:
        return self.width

    def forward(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        capture: str | None = None,
        output_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, L, V) for teacher-forced tokens, and the states at `capture` when asked.

        Free-running (`feed_mask`) is done by the adapter, which calls this once per fed position.
        `output_mask` is accepted for a uniform interface; the unembedding is cheap, so all logits are made.
        """
        if feed_mask is not None:
            raise ValueError("the transformer is free-run by its adapter, not in forward")
        x = self.embed(tokens)
        captured = None
        for name, block in [("embed", None)] + [(f"layers.{i}", b) for i, b in enumerate(self.blocks)]:
            if block is not None:
                x = block(x)
            if intervention is not None and intervention.site == name:
                x = intervention.apply(x)
            if capture == name:
                captured = x
        return self.unembed(self.norm(x)), captured

    def resume_states(self, site: str, tokens: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """The states (B, L, d) at `site`: nothing below it changes, so `resume` starts there."""
        return self(tokens, capture=site)[1]

    def resume(
        self,
        tokens: torch.Tensor,
        resume: Resume,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`forward`'s logits, run only from the intervened site upward and up to the last needed position."""
        if feed_mask is not None:
            raise ValueError("the transformer is free-run by its adapter, not in forward")
        site = intervention.site if intervention is not None else "embed"
        end = int(last_true(output_mask).max()) + 1 if output_mask is not None else tokens.shape[1]
        x = resume.states[:, : max(end, 1)].to(self.embed.weight.dtype)
        if intervention is not None:
            x = intervention.apply(x)
        for block in self.blocks[self.sites.index(site) :]:
            x = block(x)
        logits = self.unembed(self.norm(x))
        return F.pad(logits, (0, 0, 0, tokens.shape[1] - logits.shape[1]))
