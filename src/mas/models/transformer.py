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


def rotate(x: torch.Tensor, positions: torch.Tensor | None = None, base: float = 10_000.0) -> torch.Tensor:
    """Apply rotary position embedding to (B, heads, L, head_dim); `positions` (B, L) gives each
    entry's place in its sequence (default 0..L-1), so a run that starts midway rotates as a whole one."""
    length, dim = x.shape[-2], x.shape[-1]
    if positions is None:
        positions = torch.arange(length, device=x.device)[None]
    freqs = base ** (-torch.arange(0, dim, 2, device=x.device, dtype=torch.float32) / dim)
    angles = positions.to(torch.float32)[:, None, :, None] * freqs
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

    def keys_values(self, x: torch.Tensor, positions: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries and keys (rotated) and values, each (B, heads, L, head_dim)."""
        batch, length, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return rotate(q, positions), rotate(k, positions), v

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None,
                prefix: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The block on states `x` (B, L, d). With `prefix` (keys and values of whole sequences, and each
        row's start) `x` holds the positions `positions` from each row's start on, and attends to the
        prefix's keys and values before its start: only what follows the start is computed."""
        batch, length, width = x.shape
        q, k, v = self.keys_values(x, positions)
        if prefix is None:
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            keys, values, start = prefix
            before = torch.arange(keys.shape[2], device=x.device)[None, :] < start[:, None]
            causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
            mask = torch.cat([before[:, None, :].expand(-1, length, -1), causal.expand(batch, -1, -1)], -1)
            attended = F.scaled_dot_product_attention(q, torch.cat([keys, k], 2), torch.cat([values, v], 2),
                                                      attn_mask=mask[:, None])
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
        """(B, L, d·(1 + 2n)): the states at `site` and the keys and values of each of the n blocks above
        it, at every position. Nothing below the site, and nothing before a row's start, changes, so
        `resume` runs only the blocks above the site, only from each row's start on."""
        below = self.sites.index(site)  # the blocks that make the site's states
        x = self.embed(tokens)
        for block in self.blocks[:below]:
            x = block(x)
        packed = [x]
        for block in self.blocks[below:]:
            _, keys, values = block.keys_values(x)
            packed += [keys.transpose(1, 2).flatten(2), values.transpose(1, 2).flatten(2)]
            x = block(x)
        return torch.cat(packed, -1)

    def resume(
        self,
        tokens: torch.Tensor,
        resume: Resume,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`forward`'s logits at `output_mask`, computed only from each row's `resume.start` to its last
        needed position, above the intervened site; positions not computed are left zero."""
        if feed_mask is not None:
            raise ValueError("the transformer is free-run by its adapter, not in forward")
        site = intervention.site if intervention is not None else "embed"
        batch, length = tokens.shape
        needed = output_mask if output_mask is not None else torch.ones_like(tokens, dtype=torch.bool)
        start = resume.start.to(tokens.device)
        span = (last_true(needed) + 1 - start).clamp(min=0)
        offsets = torch.arange(int(span.max()) if batch else 0, device=tokens.device)
        positions = start[:, None] + offsets  # (B, S): each row's positions from its start
        packed = resume.states.to(tokens.device, self.embed.weight.dtype)
        width, rows = self.width, torch.arange(batch, device=tokens.device)[:, None]
        x = packed[rows, positions.clamp(max=length - 1), :width]
        if intervention is not None:
            flat = intervention.apply_rows(x.flatten(0, 1), rows.expand_as(positions).flatten(), positions.flatten())
            x = flat.view_as(x)
        for n, block in enumerate(self.blocks[self.sites.index(site):]):
            cached = packed[..., width * (1 + 2 * n): width * (3 + 2 * n)].view(batch, length, 2, block.heads, -1)
            keys, values = cached.permute(2, 0, 3, 1, 4)
            x = block(x, positions, (keys, values, start))
        inside = offsets[None, :] < span[:, None]
        logits = x.new_zeros(batch, length, self.unembed.out_features)
        return logits.index_put((rows.expand_as(positions)[inside], positions[inside]), self.unembed(self.norm(x[inside])))
