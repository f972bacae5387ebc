"""Whether a site can carry anything at all: writing other states there must move a scored output.

A site whose state never reaches the outputs a pair set scores (a branch the readout ignores, a
layer whose later steps were computed before the edit) trains with a flat loss to chance IIA and
says nothing. One run with other states written where the pairs write, against one run without,
tells such a site apart before any training.
"""

from __future__ import annotations

import torch

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.align.interchange import read_states
from mas.errors import MasError
from mas.tasks.pairs import IGNORE, PairSet

PROBE_ROWS = 64  # pairs probed: enough that some scored output depends on any site that matters
MOVED = 1e-4  # the least change of a scored logit, relative to the logits' scale, that counts


def probe_states(states: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """States as unlike the recorded ones as the site's own spread allows: Gaussian draws with each
    unit's mean and (at least unit) spread, so a site whose states barely vary is still moved."""
    flat = states.reshape(-1, states.shape[-1]).float()
    scale = flat.std(0, unbiased=False).clamp(min=1.0) * 3
    noise = torch.randn(states.shape, generator=torch.Generator().manual_seed(seed)).to(states.device)
    return flat.mean(0) + noise * scale


@torch.no_grad()
def site_reaches_outputs(adapter: ModelAdapter, site: str, pairs: PairSet) -> bool:
    """Whether writing other states at the pairs' target positions changes any scored logit."""
    probe = pairs.subset(slice(0, PROBE_ROWS))
    scored = probe.labels != IGNORE
    if not scored.any():
        raise MasError("the pairs score no position (every label is -100): there is nothing to align on")
    own = read_states(adapter, site, probe.tokens, probe.target_positions)  # (n, P, d)
    written = probe_states(own)
    grid = written.new_zeros(*probe.tokens.shape, written.shape[-1])
    rows, slots = (probe.target_positions >= 0).nonzero(as_tuple=True)
    grid[rows, probe.target_positions[rows, slots]] = written[rows, slots]
    grid = grid.to(adapter.site_device(site))
    edit = Intervention(site, probe.edit_mask, lambda states, batch, pos: grid[batch, pos].to(states.dtype))
    tokens, where = probe.tokens.to(adapter.device), scored.to(adapter.device)
    before = adapter.run(tokens, None, None, where)[where].float()
    after = adapter.run(tokens, edit, None, where)[where].float()
    return bool((after - before).abs().max() > MOVED * max(1.0, float(before.abs().max())))


def check_reach(adapter: ModelAdapter, site: str, pairs: PairSet) -> None:
    """Stop with one line when no state written at `site` changes what the pairs score."""
    if not site_reaches_outputs(adapter, site, pairs):
        raise MasError(f"writing other states at site {site!r} of {adapter.name} changes none of the outputs the "
                       "pairs score, so no alignment can be learned there; pick a site the model's later steps read")
