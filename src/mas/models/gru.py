"""The recurrent task model: embedding, one GRU cell, and an MLP readout."""

from __future__ import annotations

import torch
from torch import nn

from mas.models.intervention import Intervention


class GRUModel(nn.Module):
    """A GRU run step by step, so any step's state can be replaced and its own outputs fed back.

    Sites: `embed` (the input vector of a step) and `hidden` (the state after a step, which feeds
    both the readout and the next step).
    """

    sites = ("embed", "hidden")
    recurrent = True

    def __init__(self, vocab_size: int, width: int = 128, embed_width: int = 128, readout_width: int = 512) -> None:
        super().__init__()
        self.width = width
        self.embed = nn.Embedding(vocab_size, embed_width)
        self.cell = nn.GRUCell(embed_width, width)
        self.readout = nn.Sequential(nn.Linear(width, readout_width), nn.GELU(), nn.Linear(readout_width, vocab_size))

    def site_width(self, site: str) -> int:
        return self.embed.embedding_dim if site == "embed" else self.width

    def forward(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        capture: str | None = None,
        output_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, L, V), and the states at `capture` (B, L, d) when asked.

        Where `feed_mask[:, i]` is True the token at i + 1 is the model's own prediction at i
        (free-running); elsewhere it is read from `tokens`. With `output_mask` (teacher-forced only),
        logits are computed only where it is True and left zero elsewhere: the readout is most of
        the cost of a step.
        """
        batch, length = tokens.shape
        current = tokens[:, 0]
        h = tokens.new_zeros((batch, self.width), dtype=self.embed.weight.dtype)
        states, captured, logits = [], [], []
        for i in range(length):
            x = self.embed(current)
            if intervention is not None and intervention.site == "embed":
                x = intervention.apply_at(x, i)
            h = self.cell(x, h)
            if intervention is not None and intervention.site == "hidden":
                h = intervention.apply_at(h, i)
            states.append(h)
            if capture is not None:
                captured.append(x if capture == "embed" else h)
            if i + 1 < length:
                current = tokens[:, i + 1]
                if feed_mask is not None:
                    # Free-running needs this step's prediction before the next step can start.
                    logits.append(self.readout(h))
                    current = torch.where(feed_mask[:, i], logits[-1].argmax(-1), current)
        if feed_mask is None and output_mask is not None:
            states_all = torch.stack(states, 1)
            rows, cols = output_mask.nonzero(as_tuple=True)
            out = states_all.new_zeros(batch, length, self.readout[-1].out_features)
            out = out.index_put((rows, cols), self.readout(states_all[rows, cols]))
        elif feed_mask is None:
            out = self.readout(torch.stack(states, 1))
        else:
            out = torch.stack(logits + [self.readout(h)], 1)
        return out, (torch.stack(captured, 1) if capture is not None else None)
