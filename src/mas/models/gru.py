"""The recurrent task model: embedding, one GRU cell, and an MLP readout."""

from __future__ import annotations

from functools import cache

import torch
from torch import nn
from torch.func import functional_call

from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume, SuffixPlan, last_true, no_outputs


@cache
def _gru_shell(input_width: int, width: int) -> nn.GRU:
    """A weightless `nn.GRU` that runs with a cell's weights passed in (see `fused_gru`)."""
    return nn.GRU(input_width, width, batch_first=True, device="meta")


def fused_gru(cell: nn.GRUCell, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """States (B, T, d) of `cell` run over inputs (B, T, e) from `h` (B, d), as one fused call."""
    weights = {
        "weight_ih_l0": cell.weight_ih,
        "weight_hh_l0": cell.weight_hh,
        "bias_ih_l0": cell.bias_ih,
        "bias_hh_l0": cell.bias_hh,
    }
    return functional_call(_gru_shell(cell.input_size, cell.hidden_size), weights, (x, h[None]))[0]


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

    def resume_states(self, site: str, tokens: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """The hidden state (B, d) just before each row's start, whatever the site: the step at the
        start reads it (zeros where a row starts at 0)."""
        prefix = tokens[:, : max(int(start.max()), 1)]
        states = self(prefix, capture="hidden", output_mask=no_outputs(prefix))[1]
        before = (start - 1).clamp(0, states.shape[1] - 1)
        return torch.where((start > 0)[:, None], states[torch.arange(len(tokens), device=tokens.device), before], 0.0)

    def resume(
        self,
        tokens: torch.Tensor,
        resume: Resume,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        fused: bool | None = None,
    ) -> torch.Tensor:
        """`forward`'s logits at `output_mask`, computed only from each row's `resume.start` on.

        `resume.states` (B, d) holds each row's recorded hidden state just before its start; the
        intervention and feeding must change nothing before it, and positions before it are left
        zero. Rows run longest first and drop out after their last needed position. Teacher-forced
        steps after the last intervened one run as one `nn.GRU` call where `fused` (default: on a
        GPU, where one call beats a step loop; on a CPU the shrinking step loop is faster).
        """
        batch, length = tokens.shape
        needed = output_mask if output_mask is not None else torch.ones_like(tokens, dtype=torch.bool)
        plan = SuffixPlan.build(resume.start.to(tokens.device), needed)
        start, order = plan.start, plan.order
        site = intervention.site if intervention is not None else None
        # The last step with an edit (−1: none). After it nothing is edited, and a teacher-forced
        # run may go on as one fused call.
        edited = int((last_true(intervention.mask.to(tokens.device)) - resume.start.to(tokens.device)).max()) if site else -1
        stepped = len(plan.counts)
        if feed_mask is None and (tokens.is_cuda if fused is None else fused):
            stepped = min(stepped, max(edited + 1, 0))
        h = torch.where((start > 0)[:, None], resume.row_states().to(tokens.device)[order], 0.0).to(self.embed.weight.dtype)
        own = tokens[order]
        token = own.gather(1, start.clamp(max=length - 1)[:, None])[:, 0]
        # Teacher-forced inputs do not depend on the recurrence: embed and edit them all at once.
        inputs = self._edited_inputs(own, plan, stepped, intervention) if site == "embed" and feed_mask is None else None
        states = []
        for j, n in enumerate(plan.counts[:stepped]):
            rows, pos = order[:n], start[:n] + j
            x = inputs[j] if inputs is not None else self.embed(token[:n])
            if site == "embed" and inputs is None and j <= edited:
                x = intervention.apply_rows(x, rows, pos)
            h = self.cell(x, h[:n])
            if site == "hidden" and j <= edited:
                h = intervention.apply_rows(h, rows, pos)
            states.append(h)
            if inputs is None and j + 1 < len(plan.counts):  # the next step reads a token
                m = plan.counts[j + 1]
                token = own[:m].gather(1, (pos[:m] + 1)[:, None])[:, 0]
                if feed_mask is not None:
                    fed = feed_mask.to(tokens.device)[rows[:m], pos[:m]]
                    token = torch.where(fed, self.readout(h[:m]).argmax(-1), token)
        if stepped < len(plan.counts):
            n = plan.counts[stepped]
            cols = (start[:n, None] + torch.arange(stepped, len(plan.counts), device=tokens.device)).clamp(max=length - 1)
            out = fused_gru(self.cell, self.embed(own[:n].gather(1, cols)), h[:n])
            states += [out[:count, j] for j, count in enumerate(plan.counts[stepped:])]
        rows, cols = (needed & (torch.arange(length, device=tokens.device) >= resume.start.to(tokens.device)[:, None])).nonzero(as_tuple=True)
        logits = h.new_zeros(batch, length, self.readout[-1].out_features)
        if len(rows):
            logits = logits.index_put((rows, cols), self.readout(plan.gather(states, rows, cols)))
        return logits

    def _edited_inputs(
        self, own: torch.Tensor, plan: SuffixPlan, steps: int, intervention: Intervention
    ) -> tuple[torch.Tensor, ...]:
        """The inputs of the first `steps` steps of `plan` (rows of `own` in plan order), embedded and
        intervened in one call: step j's are rows [:counts[j]] at their start + j."""
        counts = torch.tensor(plan.counts[:steps], device=own.device)
        step, row = (torch.arange(len(own), device=own.device) < counts[:, None]).nonzero(as_tuple=True)
        pos = plan.start[row] + step
        x = intervention.apply_rows(self.embed(own[row, pos]), plan.order[row], pos)
        return x.split(plan.counts[:steps])
