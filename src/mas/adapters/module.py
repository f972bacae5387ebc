"""Any PyTorch module behind the `ModelAdapter` interface, with sites named by module path.

A site is the output of a submodule, named as `named_modules()` names it (`encoder.layers.3`), the
way TransformerLens names hook points. A module that returns a tuple or list is read and written at
its first item; `path:i` picks item i and `path:key` a dict key. Forward hooks do the reading and
writing, so the model itself is never modified.

Positions follow from how often the site's module runs in one forward pass: called once, its
output is (B, L, d) (L positions) or (B, d) (one position, 0); called L times, as a cell stepped by
a loop is, its n-th call is position n. The user says only how a batch becomes logits, (B, L, V) or
(B, V) for a model that answers once (its answer then counts as the last input position's).
Models are run teacher-forced: for the trial accuracy that IIA reports, this equals free-running,
since the first wrong token is wrong in both.

The output of a fused `nn.GRU`/`nn.LSTM`/`nn.RNN` can be read but not written: the layer computes
every step inside one call, so a state written into its output never reaches its later steps.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume
from mas.errors import MasError

Outputs = Callable[[nn.Module, torch.Tensor], torch.Tensor]
# (the state a hook found (B, d) or (B, L, d), its call index in this pass) -> the state to hand on
StateFn = Callable[[torch.Tensor, int], torch.Tensor]


# The stepped form of each fused recurrent layer, named when a site is refused.
STEPPED_CELLS: dict[type[nn.Module], str] = {nn.LSTM: "nn.LSTMCell", nn.GRU: "nn.GRUCell", nn.RNN: "nn.RNNCell"}


def _call(module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    return module(batch)


class ModuleAdapter(ModelAdapter):
    """A frozen `nn.Module`; `example` is one small input batch, run once to learn site widths."""

    def __init__(self, module: nn.Module, example: torch.Tensor, outputs: Outputs = _call, name: str = "model") -> None:
        self.module = module.eval().requires_grad_(False)
        self.example = example
        self.outputs = outputs
        self.name = name
        self._paths = dict(module.named_modules())
        self._widths: dict[str, int] = {}

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(path for path in self._paths if path)

    @property
    def device(self) -> torch.device:
        first = next(self.module.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    def check_site(self, site: str) -> None:
        path = site.split(":", 1)[0]
        if not path or path not in self._paths:
            raise MasError(f"unknown site {site!r} for model {self.name}: no submodule {path!r} (see `.sites`)")

    def check_writable(self, site: str) -> None:
        """Refuse to write into a fused recurrent layer's output, which its own later steps never read."""
        self.check_site(site)
        layer = self._paths[site.split(":", 1)[0]]
        for fused, cell in STEPPED_CELLS.items():
            if isinstance(layer, fused):
                raise MasError(f"site {site!r} is the output of a fused {type(layer).__name__}, whose later steps never "
                               f"see a state written there; step an {cell} in a loop and use the cell as the site")

    def width(self, site: str) -> int:
        if site not in self._widths:
            self._widths[site] = int(self.read(site, self.example[:1]).shape[-1])
        return self._widths[site]

    @contextmanager
    def _hooked(self, site: str, state_fn: StateFn) -> Iterator[None]:
        """While open, every output of the site's module passes through `state_fn`."""
        self.check_site(site)
        path, _, key = site.partition(":")
        calls = 0

        def hook(module: nn.Module, args: tuple, output: object) -> object:
            nonlocal calls
            state = _select(output, key, site)
            new = state_fn(state, calls)
            calls += 1
            return None if new is state else _replace(output, key, new)

        handle = self._paths[path].register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        states: list[torch.Tensor] = []

        def keep(state: torch.Tensor, call: int) -> torch.Tensor:
            states.append(state.float())
            return state

        with self._hooked(site, keep):
            self.outputs(self.module, tokens)
        if not states:
            raise MasError(f"site {site!r} of model {self.name} did not run on this input")
        return states[0] if len(states) == 1 and states[0].dim() == 3 else _as_steps(states, site)

    def run(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        resume: Resume | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, L, V), L = the tokens' length (see the module docstring).

        `resume` is never given: a user's module has no recorded states to start from, so whole
        sequences run."""
        if intervention is None:
            logits = self.outputs(self.module, tokens)
        else:
            self.check_writable(intervention.site)

            def edit(state: torch.Tensor, call: int) -> torch.Tensor:
                if state.dim() == 3:
                    return intervention.apply(state.float()).to(state.dtype)
                return intervention.apply_at(state.float(), call).to(state.dtype)

            with self._hooked(intervention.site, edit):
                logits = self.outputs(self.module, tokens)
        if logits.dim() == 2:
            placed = logits.new_zeros(tokens.shape[0], tokens.shape[1], logits.shape[-1])
            placed[:, -1] = logits
            return placed
        return logits


def _as_steps(states: list[torch.Tensor], site: str) -> torch.Tensor:
    if any(s.dim() != 2 for s in states):
        raise MasError(f"site {site!r} gives states of shape {tuple(states[0].shape)}; a site runs once per pass "
                       "with (batch, length, width) or (batch, width) states, or once per position with (batch, width)")
    return torch.stack(states, 1)


def _select(output: object, key: str, site: str) -> torch.Tensor:
    """The state tensor in a module's output: itself, a tuple/list item, or a dict entry."""
    if isinstance(output, dict):
        if not key:
            raise MasError(f"site {site!r} returns a dict; name an entry, e.g. '{site}:{next(iter(output), 'key')}'")
        if key not in output:
            raise MasError(f"site {site!r}: no entry {key!r} (has {', '.join(map(str, output))})")
        found = output[key]
    elif isinstance(output, (tuple, list)):
        index = int(key) if key.isdigit() else 0 if not key else None
        if index is None or index >= len(output):
            raise MasError(f"site {site!r}: the output is a sequence of {len(output)} items; use ':<index>'")
        found = output[index]
    else:
        if key:
            raise MasError(f"site {site!r}: the output is a single tensor, it has no entry {key!r}")
        found = output
    if not isinstance(found, torch.Tensor):
        raise MasError(f"site {site!r} holds a {type(found).__name__}, not a tensor")
    return found


def _replace(output: object, key: str, state: torch.Tensor) -> object:
    """`output` with the selected tensor replaced by `state`, the container's type kept."""
    if isinstance(output, dict):
        new = dict(output) if type(output) is dict else output.__class__(**output)
        new[key] = state
        return new
    if isinstance(output, (tuple, list)):
        items = list(output)
        items[int(key) if key else 0] = state
        return type(output)(items) if not hasattr(output, "_fields") else type(output)(*items)
    return state
