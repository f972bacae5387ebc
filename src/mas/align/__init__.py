"""Rotations, the interchange intervention, and the one trainer behind DAS and MAS."""

from mas.align.interchange import interchange_edit, read_source_states, stacked_batch
from mas.align.rotation import Rotations
from mas.align.trainer import AlignConfig, AlignmentTrainer, Direction, FitResult, all_directions, direction_key

__all__ = [
    "AlignConfig",
    "AlignmentTrainer",
    "Direction",
    "FitResult",
    "Rotations",
    "all_directions",
    "direction_key",
    "interchange_edit",
    "read_source_states",
    "stacked_batch",
]
