"""Task-model checkpoints: `model.safetensors` with a `config.json` beside it, both written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from torch import nn

from mas.errors import MasError
from mas.io import load_tensors, read_json, save_tensors, write_json
from mas.models.gru import GRUModel
from mas.models.transformer import TransformerModel
from mas.tasks import CausalModel, make_task

Arch = Literal["gru", "transformer"]


class TaskModelConfig(BaseModel):
    """Everything needed to rebuild a task model and its task."""

    arch: Arch
    task: str
    task_options: dict[str, Any] = Field(default_factory=dict)
    vocab_size: int
    width: int = 128
    seed: int = 0
    steps: int = 0
    heldout_accuracy: float | None = None
    heldout_counts: list[int] = Field(default_factory=list)
    heldout_by_size: dict[int, float] = Field(default_factory=dict, description="held-out accuracy per size")

    def build_task(self) -> CausalModel:
        return make_task(self.task, **self.task_options)

    def build_model(self) -> nn.Module:
        if self.arch == "gru":
            return GRUModel(self.vocab_size, width=self.width, embed_width=self.width)
        return TransformerModel(self.vocab_size, width=self.width)


def save_checkpoint(folder: Path, model: nn.Module, config: TaskModelConfig) -> None:
    folder = Path(folder)
    save_tensors(folder / "model.safetensors", model.state_dict())
    write_json(folder / "config.json", config.model_dump())


def load_checkpoint(folder: Path) -> tuple[nn.Module, TaskModelConfig]:
    """Rebuild a model from its folder; a config that does not fit the weights is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MasError(f"missing model folder: {folder}")
    try:
        config = TaskModelConfig.model_validate(read_json(folder / "config.json"))
    except ValidationError as err:
        raise MasError(f"invalid model config {folder / 'config.json'}: {err.errors()[0]['msg']}") from None
    model = config.build_model()
    try:
        model.load_state_dict(load_tensors(folder / "model.safetensors"))
    except RuntimeError:
        raise MasError(f"checkpoint {folder / 'model.safetensors'} does not match its config") from None
    return model, config
