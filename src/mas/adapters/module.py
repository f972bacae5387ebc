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

A recurrent module that also offers one step at a time (`SteppedModule`) is run only from each
row's first intervened position on, from the state recorded there, as the task models are; any
other module reruns whole sequences.

The output of a fused `nn.GRU`/`nn.LSTM`/`nn.RNN` can be read but not written: the layer computes
every step inside one call, so a state written into its output never reaches its later steps.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Protocol, runtime_checkable

import torch
from torch import nn

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume, SuffixPlan
from mas.errors import MasError

Outputs = Callable[[nn.Module, torch.Tensor], torch.Tensor]
# (the state a hook found (B, d) or (B, L, d), its call index in this pass) -> the state to hand on
StateFn = Callable[[torch.Tensor, int], torch.Tensor]


# The stepped form of each fused recurrent layer, named when a site is refused.
STEPPED_CELLS: dict[type[nn.Module], str] = {nn.LSTM: "nn.LSTMCell", nn.GRU: "nn.GRUCell", nn.RNN: "nn.RNNCell"}


@runtime_checkable
class SteppedModule(Protocol):
    """A recurrent module that can also run one position at a time (optional, for speed).

    `step` must return what the submodule at `state_site` outputs at that position (the state the
    next step reads), and `readout` the logits the module gives for a state.
    """

    state_site: str

    def initial_state(self, batch: int) -> torch.Tensor: ...

    def step(self, token: torch.Tensor, state: torch.Tensor) -> torch.Tensor: ...

    def readout(self, state: torch.Tensor) -> torch.Tensor: ...


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
                raise MasError(f"site {site!r} is the output of a fused {type(layer).__name__}, whose later steps "
                               f"never see a state written there; step an {cell} in a loop and use the cell as the site")

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

        With `resume` (only for a `SteppedModule` at its state site) each row runs from its start."""
        if resume is not None and self._steps_at(intervention.site if intervention is not None else None):
            return self._resumed(tokens, resume, intervention, output_mask)
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


    def _steps_at(self, site: str | None) -> bool:
        """Whether runs with an edit at `site` (None: no edit) may resume from a recorded state."""
        return isinstance(self.module, SteppedModule) and site in (None, self.module.state_site)

    @torch.no_grad()
    def resume_states(self, site: str, tokens: torch.Tensor, start: torch.Tensor) -> torch.Tensor | None:
        """The state (B, d) just before each row's start, for a `SteppedModule` at its state site;
        None (whole sequences) otherwise."""
        if not self._steps_at(site):
            return None
        prefix = tokens[:, : max(int(start.max()), 1)]
        states = self.capture(self.module.state_site, prefix)
        before = states[torch.arange(len(tokens)), (start - 1).clamp(0, states.shape[1] - 1)]
        initial = self.module.initial_state(len(tokens)).to(before)
        return torch.where((start > 0)[:, None].to(before.device), before, initial)

    def _resumed(
        self, tokens: torch.Tensor, resume: Resume, intervention: Intervention | None, output_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Logits at `output_mask` from each row's start on, stepping only the rows still needed
        (longest first, as `SuffixPlan` orders them); zero elsewhere."""
        batch, length = tokens.shape
        needed = output_mask if output_mask is not None else torch.ones_like(tokens, dtype=torch.bool)
        plan = SuffixPlan.build(resume.start.to(tokens.device), needed)
        own = tokens[plan.order]
        state = resume.row_states().to(tokens.device)[plan.order]
        states = []
        for j, n in enumerate(plan.counts):
            rows, pos = plan.order[:n], plan.start[:n] + j
            state = self.module.step(own[:n].gather(1, pos[:, None])[:, 0], state[:n].to(state.dtype))
            if intervention is not None:
                state = intervention.apply_rows(state.float(), rows, pos).to(state.dtype)
            states.append(state)
        after = torch.arange(length, device=tokens.device) >= resume.start.to(tokens.device)[:, None]
        rows, cols = (needed.to(tokens.device) & after).nonzero(as_tuple=True)
        scored = self.module.readout(plan.gather(states, rows, cols)) if len(rows) else None
        width = scored.shape[-1] if scored is not None else self.module.readout(state[:1]).shape[-1]
        logits = tokens.new_zeros((batch, length, width), dtype=torch.float32)
        return logits if scored is None else logits.index_put((rows, cols), scored.float())


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
