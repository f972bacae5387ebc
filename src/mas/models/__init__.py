"""The task models `mas` trains (GRU, transformer), their checkpoints and their training."""

from mas.models.checkpoint import TaskModelConfig, load_checkpoint, save_checkpoint
from mas.models.gru import GRUModel
from mas.models.transformer import TransformerModel

__all__ = ["GRUModel", "TaskModelConfig", "TransformerModel", "load_checkpoint", "save_checkpoint"]
