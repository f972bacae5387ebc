"""Task models (GRU, transformer), their training, and the adapters that expose them."""

from mas.models.adapter import ModelAdapter, TaskModelAdapter
from mas.models.checkpoint import TaskModelConfig, load_checkpoint, save_checkpoint
from mas.models.gru import GRUModel
from mas.models.intervention import Intervention
from mas.models.transformer import TransformerModel

__all__ = [
    "GRUModel",
    "Intervention",
    "ModelAdapter",
    "TaskModelAdapter",
    "TaskModelConfig",
    "TransformerModel",
    "load_checkpoint",
    "save_checkpoint",
]
