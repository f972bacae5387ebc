"""Site maps (rotation interchange, linear stitch), counterfactual latents, and the one trainer
behind DAS, MAS, stitching and CLMAS."""

from mas.align.counterfactual_latents import LatentBank, LatentPairs, attach_latents, record_latents
from mas.align.interchange import Interchange, interchange_edit, read_source_states, stacked_batch
from mas.align.losses import counterfactual_latent_loss
from mas.align.maps import SiteMap
from mas.align.rotation import Rotations
from mas.align.stitching import LinearStitch, Stitches
from mas.align.trainer import AlignConfig, AlignmentTrainer, Direction, FitResult, all_directions, direction_key

__all__ = [
    "AlignConfig",
    "AlignmentTrainer",
    "Direction",
    "FitResult",
    "Interchange",
    "LatentBank",
    "LatentPairs",
    "LinearStitch",
    "Rotations",
    "SiteMap",
    "Stitches",
    "all_directions",
    "attach_latents",
    "counterfactual_latent_loss",
    "direction_key",
    "interchange_edit",
    "read_source_states",
    "record_latents",
    "stacked_batch",
]
