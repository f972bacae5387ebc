"""The one interface every model is used through (`ModelAdapter`) and its implementations.

`ModuleAdapter` wraps any PyTorch module, `TaskModelAdapter` the task models `mas` trains,
`RecordingAdapter` a model known only from recorded states; `mas.adapters.hf.HFAdapter` wraps a
Hugging Face causal LM (it needs the `lm` extra, so it is imported from its module), and likewise
`mas.adapters.transformer_lens.TransformerLensAdapter` (extra `tl`) and
`mas.adapters.nnsight.NNsightAdapter` (extra `nnsight`).
"""

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.adapters.module import ModuleAdapter
from mas.adapters.recording import RecordingAdapter
from mas.adapters.resume import Resume
from mas.adapters.task_model import ResumableTaskModel, TaskModel, TaskModelAdapter

__all__ = ["Intervention", "ModelAdapter", "ModuleAdapter", "RecordingAdapter", "ResumableTaskModel", "Resume", "TaskModel", "TaskModelAdapter"]
