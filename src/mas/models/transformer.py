"""The 2-layer causal transformer task model: rotary positions, pre-LayerNorm, GELU feed-forward.

Rotary embeddings are a few lines here: torch has no rotary module, and pulling in a model library
for a 2-layer network would cost more than it saves.

Besides whole sequences, the model runs a *packed* set of (row, position) tokens against per-block
key/value buffers: a target resumed after an intervention runs only the positions it needs (no
padding), and free-running decodes one position at a time from those buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume, last_true

# Per block: keys and values (B, L, heads, head_dim) of every position of every row.
KeyValues = tuple[torch.Tensor, torch.Tensor]


def rotate(x: torch.Tensor, positions: torch.Tensor, base: float = 10_000.0) -> torch.Tensor:
    """Rotary position embedding of x (..., heads, head_dim) at `positions` (...), each entry's place
    in its own sequence, so a run that starts midway rotates as a whole one. Each pair of adjacent
    dimensions turns as one complex number (one multiply, half the time of the real form)."""
    dim = x.shape[-1]
    freqs = base ** (-torch.arange(0, dim, 2, device=x.device, dtype=torch.float32) / dim)
    angles = positions.to(torch.float32)[..., None, None] * freqs
    real = x if x.dtype in (torch.float32, torch.float64) else x.float()
    turn = torch.polar(torch.ones_like(angles, dtype=real.dtype), angles.to(real.dtype))
    return torch.view_as_real(torch.view_as_complex(real.unflatten(-1, (-1, 2))) * turn).flatten(-2).to(x.dtype)


@dataclass
class AttentionGroup:
    """Rows of a packed batch whose queries attend together, each row padded to the group's longest:
    the group's token i is query `slots[i]` of its row `local[i]`, over keys 0 .. keys - 1."""

    rows: torch.Tensor  # (n,) batch rows
    read: torch.Tensor | slice  # how their keys are read: a slice (no copy) where the rows are consecutive
    span: int  # queries per row, padded
    keys: int  # keys 0 .. keys - 1 are read
    mask: torch.Tensor | None  # (n, 1, span, keys): a query sees its own position and before; None: every key
    tokens: slice  # the group's share of the packed list
    local: torch.Tensor  # (m,) each of those tokens' row within the group
    slots: torch.Tensor  # (m,) and its place among that row's queries

    @staticmethod
    def build(rows: torch.Tensor, positions: torch.Tensor, span: int, tokens: slice,
              local: torch.Tensor, slots: torch.Tensor) -> AttentionGroup:
        """The group of `rows` whose tokens sit at `positions`; its mask is made once for every block
        that attends with it (padding queries see key 0 alone, and their outputs are dropped)."""
        queries = positions.new_zeros(len(rows), span).index_put((local, slots), positions)
        keys = int(positions.max()) + 1
        mask = (torch.arange(keys, device=positions.device) <= queries[..., None])[:, None]
        first = int(rows[0])
        consecutive = torch.equal(rows, torch.arange(first, first + len(rows), device=rows.device))
        read = slice(first, first + len(rows)) if consecutive else rows
        return AttentionGroup(rows, read, span, keys, None if bool(mask.all()) else mask, tokens, local, slots)


@dataclass
class Packed:
    """Tokens of a batch run as one list, row `rows[i]` at position `positions[i]`.

    Position-wise work (projections, feed-forward, readout) runs on the list alone. For attention,
    rows are sorted by how many tokens they run and cut into a few groups, each padded only to its
    own longest row, so rows of very different lengths waste little attention work.
    """

    rows: torch.Tensor  # (N,)
    positions: torch.Tensor  # (N,)
    groups: list[AttentionGroup]
    index: torch.Tensor  # (N,) each token's place in the list the packing was made from

    @staticmethod
    def of(rows: torch.Tensor, positions: torch.Tensor, groups: int = 4) -> Packed:
        """Tokens (rows[i], positions[i]) in any order, regrouped; each row's tokens keep their order."""
        count = torch.bincount(rows, minlength=int(rows.max()) + 1 if len(rows) else 0)
        order = count.argsort(descending=True, stable=True)
        rank = torch.empty_like(order).index_put_((order,), torch.arange(len(order), device=order.device))
        index = rank[rows].argsort(stable=True)
        ranked = rank[rows[index]]
        counts = count[order]
        slots = torch.arange(len(index), device=index.device) - (counts.cumsum(0) - counts)[ranked]
        counts = counts.tolist()
        # Cut the sorted rows into about `groups` equal parts, each only where the rows get shorter.
        size, bounds = max(1, -(-len(counts) // groups)), [0]
        for i in range(size, len(counts), size):
            if counts[i] < counts[bounds[-1]]:
                bounds.append(i)
        bounds.append(len(counts))
        parts, taken = [], 0
        for a, b in pairwise(bounds):
            if a == b or counts[a] == 0:  # no tokens at all, or only rows without any
                break
            tokens = slice(taken, taken + sum(counts[a:b]))
            parts.append(AttentionGroup.build(order[a:b], positions[index[tokens]], counts[a], tokens,
                                              ranked[tokens] - a, slots[tokens]))
            taken = tokens.stop
        return Packed(rows[index], positions[index], parts, index)

    @staticmethod
    def ranges(start: torch.Tensor, end: torch.Tensor, groups: int = 4) -> Packed:
        """Every position p with start[b] <= p < end[b], row by row."""
        count = (end - start).clamp(min=0)
        offsets = torch.arange(int(count.max()) if len(count) else 0, device=start.device)
        rows, slots = (offsets < count[:, None]).nonzero(as_tuple=True)
        return Packed.of(rows, start[rows] + slots, groups)

    def subset(self, keep: torch.Tensor) -> Packed:
        """The tokens where `keep` (N,) is True, packed on their own; `index` points into this list."""
        picked = keep.nonzero(as_tuple=True)[0]
        part = Packed.of(self.rows[picked], self.positions[picked])
        part.index = picked[part.index]
        return part


class Block(nn.Module):
    def __init__(self, width: int, heads: int, ff_width: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, ff_width), nn.GELU(), nn.Linear(ff_width, width))

    def queries_keys_values(self, x: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Rotated queries and keys, and values, each (..., heads, head_dim), of states x (..., d)."""
        q, k, v = self.qkv(self.norm1(x)).unflatten(-1, (3, self.heads, -1)).unbind(-3)
        return rotate(q, positions), rotate(k, positions), v

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, KeyValues]:
        """The block on whole sequences x (B, L, d), and its keys and values."""
        batch, length, width = x.shape
        q, k, v = self.queries_keys_values(x, torch.arange(length, device=x.device))
        attended = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        return self._residual(x, attended.transpose(1, 2).reshape(batch, length, width)), (k, v)

    def packed(self, x: torch.Tensor, tokens: Packed, cache: KeyValues,
               queries: Packed | None = None) -> tuple[torch.Tensor, KeyValues]:
        """The block on packed states x (N, d); `cache` holds every position's keys and values, of
        which the packed ones are replaced by their fresh values. Returns the new states and cache.

        With `queries` (a subset of `tokens`), every token still writes its keys and values but only
        those query and run on, and the new states are theirs: the last block reads out at scored
        positions alone."""
        q, k, v = self.queries_keys_values(x, tokens.positions)
        at = (tokens.rows, tokens.positions)
        if torch.is_grad_enabled():  # the backward pass needs the buffers as they were
            keys, values = cache[0].index_put(at, k), cache[1].index_put(at, v)
        else:  # in place: decoding would otherwise copy every row's keys at every position
            keys, values = cache[0].index_put_(at, k), cache[1].index_put_(at, v)
        if queries is None:
            queries = tokens
        else:
            q, x = q[queries.index], x[queries.index]
        attended = [x.new_zeros(0, *q.shape[1:])]
        for group in queries.groups:
            padded = q.new_zeros(len(group.rows), group.span, *q.shape[1:])
            padded = padded.index_put((group.local, group.slots), q[group.tokens])
            out = F.scaled_dot_product_attention(
                padded.transpose(1, 2), keys[group.read, : group.keys].transpose(1, 2),
                values[group.read, : group.keys].transpose(1, 2), attn_mask=group.mask)
            attended.append(out.transpose(1, 2)[group.local, group.slots])
        return self._residual(x, torch.cat(attended).flatten(1)), (keys, values)

    def _residual(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        x = x + self.proj(attended)
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
        """Logits (B, L, V), and the states at `capture` when asked (teacher-forced only).

        Where `feed_mask[:, i]` is True the token at i + 1 is the model's own prediction at i
        (free-running, decoded position by position from cached keys and values). Logits are made
        everywhere, except that an `output_mask` asking for none (reading states) stops the run at
        the `capture` site.
        """
        if feed_mask is not None:
            if capture is not None:
                raise ValueError("states are captured on teacher-forced runs only")
            return self._free_run(tokens, intervention, feed_mask), None
        x = self.embed(tokens)
        captured = None
        for level, name in enumerate(self.sites):
            if level:
                x = self.blocks[level - 1](x)[0]
            if intervention is not None and intervention.site == name:
                x = intervention.apply(x)
            if capture == name:
                captured = x
                if output_mask is not None and not output_mask.any():  # reading states: nothing above matters
                    return x.new_zeros(*tokens.shape, self.unembed.out_features), captured
        return self.unembed(self.norm(x)), captured

    def _run_packed(self, level: int, x: torch.Tensor, tokens: Packed, caches: list[KeyValues],
                    intervention: Intervention | None, outputs: Packed | None = None) -> torch.Tensor:
        """Packed states x (N, d) at site number `level`, intervened and run through the blocks above
        it; `caches[i]` (keys and values of block `level + i`) is replaced by its updated buffers.
        Returns the top states of `outputs` (a subset of `tokens`, in its order) or of every token."""
        current = tokens
        for n in range(level, len(self.sites)):
            if n > level:
                queries = outputs if n == len(self.blocks) else None
                x, caches[n - 1 - level] = self.blocks[n - 1].packed(x, tokens, caches[n - 1 - level], queries)
                if queries is not None:
                    current = queries
            if intervention is not None and intervention.site == self.sites[n]:
                x = intervention.apply_rows(x, current.rows, current.positions)
        return x if outputs is None or current is outputs else x[outputs.index]

    def _empty_caches(self, tokens: torch.Tensor) -> list[KeyValues]:
        shape = (*tokens.shape, self.blocks[0].heads, self.width // self.blocks[0].heads)
        return [(self.embed.weight.new_zeros(shape), self.embed.weight.new_zeros(shape)) for _ in self.blocks]

    def _free_run(self, tokens: torch.Tensor, intervention: Intervention | None, feed_mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced up to the first fed position, then one position at a time."""
        batch, length = tokens.shape
        tokens = tokens.clone()
        fed = feed_mask.any(0).nonzero(as_tuple=True)[0]
        known = min(int(fed[0]) + 1 if len(fed) else length, length)  # positions read as given
        caches = self._empty_caches(tokens)
        logits = self.unembed.weight.new_zeros(batch, length, self.unembed.out_features)
        chunks = [(0, known)] + [(p, p + 1) for p in range(known, length)]
        for begin, end in chunks:
            if begin:
                prediction = logits[:, begin - 1].argmax(-1)
                tokens[:, begin] = torch.where(feed_mask[:, begin - 1], prediction, tokens[:, begin])
            packed = Packed.ranges(tokens.new_full((batch,), begin), tokens.new_full((batch,), end))
            x = self._run_packed(0, self.embed(tokens[packed.rows, packed.positions]), packed, caches, intervention)
            logits[packed.rows, packed.positions] = self.unembed(self.norm(x))
        return logits

    def resume_states(self, site: str, tokens: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """(B, L, d·(1 + 2n)): the states at `site` and the keys and values of each of the n blocks above
        it, at every position. Nothing below the site, and nothing before a row's start, changes, so
        `resume` runs only the blocks above the site, only from each row's start on."""
        below = self.sites.index(site)  # the blocks that make the site's states
        x = self.embed(tokens)
        for block in self.blocks[:below]:
            x = block(x)[0]
        packed = [x]
        above = self.blocks[below:]
        for n, block in enumerate(above):
            if n + 1 < len(above):
                x, (keys, values) = block(x)
            else:  # the top block's output is not recorded: its keys and values are all it needs
                keys, values = block.queries_keys_values(x, torch.arange(x.shape[1], device=x.device))[1:]
            packed += [keys.flatten(2), values.flatten(2)]
        return torch.cat(packed, -1)

    def resume(
        self,
        tokens: torch.Tensor,
        resume: Resume,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`forward`'s logits at `output_mask`, computed only at each row's positions from its
        `resume.start` to its last needed one, above the intervened site; other positions are zero."""
        if feed_mask is not None:
            raise ValueError("a resumed transformer runs teacher-forced; free-running starts at position 0")
        above = (resume.states.shape[-1] // self.width - 1) // 2  # blocks whose keys and values were recorded
        level = len(self.blocks) - above
        if intervention is not None and self.sites.index(intervention.site) != level:
            raise ValueError(f"states recorded at {self.sites[level]}, intervention at {intervention.site}")
        batch, length = tokens.shape
        needed = output_mask if output_mask is not None else torch.ones_like(tokens, dtype=torch.bool)
        packed = Packed.ranges(resume.start.to(tokens.device), last_true(needed) + 1)
        outputs = packed.subset(needed[packed.rows, packed.positions])
        table, entries = resume.states, resume.entries()
        dtype, heads = self.embed.weight.dtype, self.blocks[0].heads
        site = table[entries[packed.rows.to(table.device)], packed.positions.to(table.device), : self.width]
        # Recorded keys and values are read only where some row starts later; the rest are run afresh.
        prefix = int(resume.start.max()) if batch else 0
        recorded = table[entries, :prefix, self.width:].to(tokens.device, dtype)
        recorded = F.pad(recorded, (0, 0, 0, length - prefix)).unflatten(-1, (above, 2, heads, self.width // heads))
        caches = [(recorded[:, :, n, 0], recorded[:, :, n, 1]) for n in range(above)]
        x = self._run_packed(level, site.to(tokens.device, dtype), packed, caches, intervention, outputs)
        logits = x.new_zeros(batch, length, self.unembed.out_features)
        return logits.index_put((outputs.rows, outputs.positions), self.unembed(self.norm(x)))
