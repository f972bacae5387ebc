"""The loss terms the trainer sums: behavioural cross-entropy and the counterfactual-latent loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mas.tasks.pairs import IGNORE


def per_direction_ce(logits: torch.Tensor, labels: torch.Tensor, n_directions: int) -> torch.Tensor:
    """Mean cross-entropy over labelled positions, one value per direction block of the batch."""
    labels = labels.to(logits.device)
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="none")
    losses = losses.view(n_directions, -1)
    counts = (labels != IGNORE).view(n_directions, -1).sum(1).clamp(min=1)
    return losses.sum(1) / counts


def counterfactual_latent_loss(written: torch.Tensor, recorded: torch.Tensor) -> torch.Tensor:
    """½[(1 − cos) + ‖h̃ − h^CL‖²/d], averaged over intervened positions (rows of both inputs).

    The cosine term aligns directions whatever the scale; the squared distance, scaled by the
    width, pins the scale too.
    """
    recorded = recorded.to(written.dtype)
    cosine = F.cosine_similarity(written, recorded, dim=-1)
    distance = (written - recorded).pow(2).sum(-1) / written.shape[-1]
    return (0.5 * ((1 - cosine) + distance)).mean()
