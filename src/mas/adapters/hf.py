"""Any Hugging Face causal language model behind the `ModelAdapter` interface.

Sites are `embed` (the input embedding module's output), `layers.<i>` (decoder block i's output),
and `layers.<i>.attn` / `layers.<i>.mlp` (the outputs of block i's attention and MLP modules, before
they join the residual stream), resolved to modules. Reading a site runs the model only up to that module; intervening replaces
the module's output through a forward hook, so the model itself is never modified. States are handed
out (and to intervention edits) in float32 whatever the model's dtype, so rotations trained on them
do not depend on how the model was loaded.

Loading is offline by default (`local_files_only=True`): an id that is neither a local folder nor in
the local cache fails at once with a `MasError` naming it instead of waiting on the network.
"""

from __future__ import annotations

import inspect
import re
from contextlib import contextmanager, nullcontext
from os import PathLike
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    GgufConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from mas.adapters.base import ModelAdapter
from mas.adapters.intervention import Intervention
from mas.adapters.resume import Resume
from mas.devices import resolve_device
from mas.errors import MasError
from mas.progress import is_quiet

_LAYER_SITE = re.compile(r"layers\.(\d+)(?:\.(attn|mlp))?")
SITE_NAMES = "'embed', 'layers.<i>', 'layers.<i>.attn' or 'layers.<i>.mlp'"
# A block's children whose names hold one of these words are its attention and MLP modules.
_PART_WORDS = {"attn": ("attn", "attention"), "mlp": ("mlp", "feed_forward")}


class _Stop(Exception):
    """Raised by a capture hook so a forward pass ends once the site has been read."""


def _source(model: str | PathLike, gguf_file: str | None) -> tuple[str, str | None]:
    """Split a path to a `.gguf` file into (folder, file name), as `from_pretrained` wants them."""
    path = Path(model)
    if gguf_file is None and path.suffix == ".gguf":
        if not path.is_file():
            raise MasError(f"GGUF file not found: {path}")
        return str(path.parent), path.name
    return str(model), gguf_file


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """A torch float dtype from its name; None means float32 on CPU and bfloat16 on GPU."""
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise MasError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16")
    return resolved


def load_tokenizer(
    model: str | PathLike,
    gguf_file: str | None = None,
    local_files_only: bool = True,
    trust_remote_code: bool = False,
) -> PreTrainedTokenizerBase:
    """The tokenizer that goes with `model` (an id, a folder, or a `.gguf` file)."""
    name, gguf_file = _source(model, gguf_file)
    try:
        with _hf_bars():
            return AutoTokenizer.from_pretrained(
                name, gguf_file=gguf_file, local_files_only=local_files_only, trust_remote_code=trust_remote_code
            )
    except (OSError, ValueError) as err:
        raise MasError(f"cannot load the tokenizer of {name!r}: {_load_failure(name, err, local_files_only)}") from None


@contextmanager
def _hf_bars() -> Iterator[None]:
    """Hugging Face's own loading and download bars, silenced under --quiet like every bar of `mas`."""
    if not is_quiet() or not hf_logging.is_progress_bar_enabled():
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def load_config(
    model: str | PathLike, gguf_file: str | None = None, local_files_only: bool = True, trust_remote_code: bool = False
) -> PretrainedConfig:
    """The model's configuration alone: enough to check sites and lengths before loading weights."""
    name, gguf_file = _source(model, gguf_file)
    try:
        with _hf_bars():
            config = AutoConfig.from_pretrained(
                name, gguf_file=gguf_file, local_files_only=local_files_only, trust_remote_code=trust_remote_code
            )
    except (OSError, ValueError) as err:
        raise MasError(f"cannot load model {name!r}: {_load_failure(name, err, local_files_only)}") from None
    return config.get_text_config()


def check_config(config: PretrainedConfig, name: str, site: str | None = None, length: int | None = None) -> None:
    """Refuse a site beyond the model's blocks or sequences longer than its context."""
    layers = getattr(config, "num_hidden_layers", None)
    if site is not None and site != "embed":
        match = _LAYER_SITE.fullmatch(site)
        if match is None:
            raise MasError(f"unknown site {site!r}; use {SITE_NAMES}")
        if layers is not None and int(match.group(1)) >= layers:
            raise MasError(f"site {site!r} is beyond the {layers} layers of model {name}")
    context = getattr(config, "max_position_embeddings", None)
    if length is not None and context is not None and length > context:
        raise MasError(f"{length} tokens exceed the {context}-token context of model {name}")


def load_causal_lm(
    model: str | PathLike,
    gguf_file: str | None = None,
    dtype: torch.dtype = torch.float32,
    local_files_only: bool = True,
    trust_remote_code: bool = False,
    device_map: str | dict | None = None,
) -> PreTrainedModel:
    """Load a causal LM as it is (trainable, on the loader's device); a `MasError` if it cannot be found.

    GGUF weights are always unpacked into a plain dense model, which can be hooked, trained and saved.
    """
    name, gguf_file = _source(model, gguf_file)
    try:
        with _hf_bars():
            loaded = AutoModelForCausalLM.from_pretrained(
                name,
                gguf_file=gguf_file,
                quantization_config=GgufConfig(dequantize=True) if gguf_file else None,
                dtype=dtype,
                device_map=device_map,
                local_files_only=local_files_only,
                trust_remote_code=trust_remote_code,
                # The loader looks for a PEFT adapter without passing `local_files_only` on by itself.
                adapter_kwargs={"local_files_only": local_files_only},
            )
    except (OSError, ValueError) as err:
        raise MasError(f"cannot load model {name!r}: {_load_failure(name, err, local_files_only)}") from None
    return flush_subnormals(loaded)


@torch.no_grad()
def flush_subnormals(model: nn.Module) -> nn.Module:
    """Set weights too small to be normal floats to zero, in place.

    De-quantized GGUF weights contain a few; they change no output measurably but make every CPU
    matrix product that touches them many times slower.
    """
    for param in model.parameters():
        if param.is_floating_point():
            param.masked_fill_(param.abs() < torch.finfo(param.dtype).tiny, 0.0)
    return model


def _load_failure(name: str, err: BaseException, local_files_only: bool) -> str:
    if local_files_only and not Path(name).exists():
        return "not a local folder and not in the Hugging Face cache (pass local_files_only=False to download)"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _decoder_layers(model: PreTrainedModel) -> nn.ModuleList:
    """The list of decoder blocks, found by its length so any architecture's naming works."""
    config = model.config.get_text_config()
    count = getattr(config, "num_hidden_layers", None)
    lists = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) == count
    ]
    if not lists:
        raise MasError(f"cannot find the {count} decoder layers of {type(model).__name__}")
    return min(lists, key=lambda item: item[0].count("."))[1]


def _part_candidates(block: nn.Module, part: str) -> list[tuple[str, nn.Module]]:
    """The children of `block` named like its `part` ("attn" or "mlp"); norms named after them
    (`post_attention_layernorm`) are not the part itself."""
    return [
        (name, child)
        for name, child in block.named_children()
        if "norm" not in name.lower() and any(word in name.lower() for word in _PART_WORDS[part])
    ]


def _block_part(block: nn.Module, part: str, site: str) -> nn.Module:
    """The one attention or MLP module of `block`; a `MasError` where none or several match."""
    found = _part_candidates(block, part)
    if len(found) != 1:
        names = ", ".join(name for name, _ in block.named_children())
        which = "no" if not found else f"{len(found)} ({', '.join(name for name, _ in found)})"
        raise MasError(f"site {site!r}: {which} child of {type(block).__name__} is named like "
                       f"{' or '.join(_PART_WORDS[part])} (children: {names})")
    return found[0][1]


def _is_block(site: str) -> bool:
    """Whether `site` is a whole block's output (`layers.<i>`), where a run can start with given states."""
    match = _LAYER_SITE.fullmatch(site)
    return match is not None and match.group(2) is None


def _resumable(site: str) -> bool:
    """Whether runs intervened at `site` can start midway from recorded keys and values."""
    return site == "embed" or _is_block(site)


class HFAdapter(ModelAdapter):
    """A frozen causal LM; sites `embed`, `layers.<i>`, `layers.<i>.attn` and `layers.<i>.mlp`,
    logits (B, L, V) out in float32.

    `model` is a Hugging Face id, a local folder, a `.gguf` file, or an already built
    `PreTrainedModel` (used as given unless `device`/`dtype` are passed). Defaults: CUDA where
    present, float32 on CPU, bfloat16 on GPU; `device_map` (e.g. "auto", through accelerate) is
    handed to the loader for a model spread over several devices, and each site then reports the
    device of its own block (`site_device`).

    With `cache_states`, reads and intervened runs at a block keep the block's states of every token
    row they see: later reads of the same rows are free and later runs on them start at that block,
    so a training loop that revisits its sequences pays only for the blocks above the site. The
    cache grows with the number of distinct rows, so it is meant for fixed pair sets. Such an
    adapter also records, once per pair set, the keys and values of the blocks above the site over
    each pair's unchanged prefix (`resume_states`): an intervened run then starts at the batch's
    earliest start with those as its past key values, so pairs intervened late in long prompts run
    only their last positions. The record holds 2 × (key/value heads × head width) numbers per block
    above the site and prefix position (SmolLM2-135M at `layers.6`: ~35 KB a position in float32),
    for every pair up to the latest start; a pair set whose record would pass `record_limit_bytes`
    runs whole sequences instead.

    Attention and MLP sites are read and intervened on like the others, but runs at them always
    cover whole sequences from the first block: their cached states serve reads only, and no keys
    and values are recorded for them (`resume_states` is None).
    """

    def __init__(
        self,
        model: str | PathLike | PreTrainedModel,
        *,
        gguf_file: str | None = None,
        dtype: str | torch.dtype | None = None,
        device: str | torch.device | None = None,
        device_map: str | dict | None = None,
        local_files_only: bool = True,
        trust_remote_code: bool = False,
        name: str | None = None,
        cache_states: bool = False,
        record_limit_bytes: int = 2 * 2**30,
    ) -> None:
        if isinstance(model, PreTrainedModel):
            self.name = name or model.config.name_or_path or type(model).__name__
            if device is not None or dtype is not None:
                target = resolve_device(device) if device is not None else model.device
                model = model.to(device=target, dtype=resolve_dtype(dtype, target))
        else:
            self.name = name or str(model)
            target = resolve_device(device)
            model = load_causal_lm(
                model, gguf_file, resolve_dtype(dtype, target), local_files_only, trust_remote_code, device_map
            )
            if device_map is None:
                model = model.to(target)
        self.model = model.eval().requires_grad_(False)
        self._embed = model.get_input_embeddings()
        self._layers = _decoder_layers(model)
        config = model.config.get_text_config()
        self._context = getattr(config, "max_position_embeddings", None)
        self._hidden_size: int = config.hidden_size
        self.cache_states = cache_states
        self.record_limit_bytes = record_limit_bytes
        self._states: dict[tuple[str, bytes], torch.Tensor] = {}
        self._tuple_output: dict[str, bool] = {}  # whether a site's module returns a tuple
        # Past key values are passed as `cache` in newer transformers, `past_key_values` before.
        self._cache_argument = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    @property
    def sites(self) -> tuple[str, ...]:
        """`embed`, then per block its output and those of its attention and MLP modules where found."""
        sites = ["embed"]
        for i, block in enumerate(self._layers):
            sites.append(f"layers.{i}")
            sites.extend(f"layers.{i}.{part}" for part in _PART_WORDS if len(_part_candidates(block, part)) == 1)
        return tuple(sites)

    @property
    def device(self) -> torch.device:
        """Where token ids go: the device of the input embeddings."""
        return self._embed.weight.device

    def site_device(self, site: str) -> torch.device:
        """Where states at `site` live (differs from `device` when the model spans devices)."""
        return next(self._module(site).parameters()).device

    def width(self, site: str) -> int:
        self._module(site)
        return self._embed.embedding_dim if site == "embed" else self._hidden_size

    def _module(self, site: str) -> nn.Module:
        if site == "embed":
            return self._embed
        match = _LAYER_SITE.fullmatch(site)
        if match is None:
            raise MasError(f"unknown site {site!r} for model {self.name}; use {SITE_NAMES}")
        index = int(match.group(1))
        if index >= len(self._layers):
            raise MasError(f"site {site!r} is beyond the {len(self._layers)} layers of model {self.name}")
        block = self._layers[index]
        return block if match.group(2) is None else _block_part(block, match.group(2), site)

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if tokens.ndim != 2:
            raise MasError(f"token ids must be a (batch, length) tensor, got shape {tuple(tokens.shape)}")
        self._check_context(tokens.shape[1])
        vocab = self._embed.num_embeddings
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab):
            raise MasError(f"token ids outside the vocabulary (0..{vocab - 1}) of {self.name}")

    def _check_context(self, length: int) -> None:
        if self._context is not None and length > self._context:
            raise MasError(f"{length} tokens exceed the {self._context}-token context of {self.name}")

    @torch.no_grad()
    def continue_greedily(self, prompts: torch.Tensor, length: int) -> torch.Tensor:
        """As `ModelAdapter.continue_greedily`, reading the past from a key/value cache: each new token
        costs one position's forward pass instead of the whole sequence's (12 times fewer positions
        for 16-token prompts continued to 32)."""
        self._check_tokens(prompts)
        self._check_context(length)
        tokens = prompts.to(self.device)
        cache, step = DynamicCache(config=self.model.config), tokens
        while tokens.shape[1] < length:
            logits = self.model(input_ids=step, use_cache=True, **{self._cache_argument: cache}).logits
            step = logits[:, -1].float().argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, step], dim=1)
        return tokens

    def capture(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        if self.cache_states and site != "embed":
            return self._cached_states(site, tokens).float()
        return self._capture_raw(site, tokens).float()

    def _capture_raw(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        """States at `site` in the model's own dtype; the model stops right after the site."""
        self._check_tokens(tokens)
        captured: list[torch.Tensor] = []

        def hook(module: nn.Module, args: tuple, output: object) -> None:
            self._tuple_output[site] = isinstance(output, tuple)
            captured.append(_hidden(output))
            raise _Stop

        handle = self._module(site).register_forward_hook(hook)
        try:
            self.model(input_ids=tokens.to(self.device), use_cache=False)
        except _Stop:
            pass
        finally:
            handle.remove()
        return captured[0]

    @torch.no_grad()
    def _cached_states(self, site: str, tokens: torch.Tensor) -> torch.Tensor:
        """States at `site` for every row of `tokens`, each distinct row computed once."""
        keys = [(site, row.tobytes()) for row in tokens.cpu().numpy()]
        missing = [i for i, key in enumerate(keys) if key not in self._states]
        if missing:
            for i, state in zip(missing, self._capture_raw(site, tokens[missing])):
                self._states[keys[i]] = state
        return torch.stack([self._states[key] for key in keys])

    @contextmanager
    def _start_at(self, site: str, states: torch.Tensor) -> Iterator[None]:
        """Make the model skip every block up to `site`, which returns `states` instead.

        Hooks on the site block still run, so an intervention edits `states` as it would the real
        output. Each block's own `forward` (an instance attribute when accelerate placed it) is put
        back afterwards.
        """
        index = int(_LAYER_SITE.fullmatch(site).group(1))
        blocks = list(self._layers[: index + 1])

        def output(hidden: torch.Tensor) -> object:
            return (hidden,) if self._tuple_output[site] else hidden

        def skip(*args: object, **kwargs: object) -> object:
            return output(args[0] if args else kwargs["hidden_states"])

        saved = [block.__dict__.get("forward") for block in blocks]
        for block in blocks[:-1]:
            block.forward = skip
        blocks[-1].forward = lambda *args, **kwargs: output(states)
        try:
            yield
        finally:
            for block, original in zip(blocks, saved):
                if original is None:
                    del block.forward
                else:
                    block.forward = original

    def resumes(self, free_running: bool) -> bool:
        return self.cache_states

    def _key_value_heads(self) -> int:
        config = self.model.config.get_text_config()
        return getattr(config, "num_key_value_heads", None) or config.num_attention_heads

    def _record_bytes_per_position(self, site: str) -> int:
        config = self.model.config.get_text_config()
        head_width = getattr(config, "head_dim", None) or self._hidden_size // config.num_attention_heads
        return len(self._above(site)) * 2 * self._key_value_heads() * head_width * self._embed.weight.element_size()

    def resume_fits(self, site: str, start: torch.Tensor) -> bool:
        """At a block's output, within `record_limit_bytes`, and on one device (the record is one table
        of every block's keys)."""
        if not _resumable(site):
            return False
        if len({p.device for p in self.model.parameters()}) > 1:
            return False
        latest = int(start.max()) if len(start) else 0
        return len(start) * latest * self._record_bytes_per_position(site) <= self.record_limit_bytes

    def _above(self, site: str) -> range:
        """The blocks an intervention at `site` can change."""
        return range(0 if site == "embed" else int(_LAYER_SITE.fullmatch(site).group(1)) + 1, len(self._layers))

    @torch.no_grad()
    def resume_states(
        self, site: str, tokens: torch.Tensor, start: torch.Tensor, batch_size: int = 32
    ) -> torch.Tensor | None:
        """(B, P, 2·n·h·e): keys and values of the n blocks above `site` (h key/value heads of width e)
        at positions 0 .. P − 1, P the latest start; None without `cache_states`, at an attention or
        MLP site, or where every row starts at 0 (nothing to record)."""
        self.check_site(site)
        prefix = int(start.max()) if len(start) else 0
        if not self.cache_states or prefix == 0 or not _resumable(site) or not self._above(site):
            return None
        chunks = []
        for i in range(0, len(tokens), batch_size):
            whole = tokens[i : i + batch_size].to(self.device)
            rows = whole[:, :prefix]
            # States of the whole rows, which intervened runs read too (the cache is keyed by row).
            start_at = nullcontext() if site == "embed" else self._start_at(site, self._cached_states(site, whole)[:, :prefix])
            cache = DynamicCache(config=self.model.config)
            if any(getattr(layer, "is_sliding", False) for layer in cache.layers):
                return None  # a sliding window keeps only part of the prefix: run whole sequences
            # The head is never needed here: stop once the last block has written its keys and values.
            handle = self._layers[-1].register_forward_hook(_stop)
            try:
                with start_at:
                    self.model(input_ids=rows, use_cache=True, **{self._cache_argument: cache})
            except _Stop:
                pass
            finally:
                handle.remove()
            per_block = [torch.stack([cache.layers[n].keys, cache.layers[n].values], 1) for n in self._above(site)]
            chunks.append(torch.stack(per_block, 1).permute(0, 4, 1, 2, 3, 5).flatten(2))  # (b, P, n·2·h·e)
        return torch.cat(chunks)

    def _past(self, site: str, resume: Resume, length: int) -> DynamicCache:
        """Past key values of every row's first `length` positions: recorded ones for the blocks above
        `site`, zero-stride stand-ins of the right length for the skipped blocks, which never read them."""
        table = resume.states[resume.entries(), :length].to(self.device)
        above, heads = self._above(site), self._key_value_heads()
        if table.shape[-1] % (len(above) * 2 * heads):
            raise ValueError(f"keys and values recorded for another site than {site}")
        table = table.unflatten(-1, (len(above), 2, heads, -1)).permute(2, 3, 0, 4, 1, 5)  # (n, 2, B, h, P, e)
        cache = DynamicCache(config=self.model.config)
        stand_in = table.new_zeros(()).expand(table.shape[2:])
        for n in range(len(self._layers)):
            keys, values = (table[n - above.start, 0], table[n - above.start, 1]) if n in above else (stand_in, stand_in)
            cache.layers[n].update(keys, values)
        return cache

    def run(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None = None,
        feed_mask: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        resume: Resume | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, L, V); with `output_mask`, zero outside it and not computed there.

        With `resume` (from `resume_states`) and an intervention, the run starts at the batch's earliest
        start from the recorded keys and values; positions before it are zero.
        """
        if output_mask is None:
            return self._forward(tokens, intervention, None, feed_mask, resume)
        mask = output_mask.to(self.device, torch.bool)
        selected = self._forward(tokens, intervention, mask, feed_mask, resume)
        logits = selected.new_zeros(*tokens.shape, selected.shape[-1])
        return logits.index_put(mask.nonzero(as_tuple=True), selected)

    def run_selected(
        self, tokens: torch.Tensor, output_mask: torch.Tensor, intervention: Intervention | None = None
    ) -> torch.Tensor:
        """Logits (M, V) of only the M positions where `output_mask` (B, L) is True, in row-major order.

        The output head is the widest matrix product of a small LM and its (B, L, V) result the
        largest tensor of a training step; this skips both outside the scored positions.
        """
        return self._forward(tokens, intervention, output_mask.to(self.device, torch.bool))

    def _forward(
        self,
        tokens: torch.Tensor,
        intervention: Intervention | None,
        output_mask: torch.Tensor | None,
        feed_mask: torch.Tensor | None = None,
        resume: Resume | None = None,
    ) -> torch.Tensor:
        if feed_mask is not None:
            raise MasError("language models are run teacher-forced; feed_mask is not supported")
        self._check_tokens(tokens)
        if output_mask is not None and output_mask.shape != tokens.shape:
            raise MasError(f"output_mask shape {tuple(output_mask.shape)} differs from the tokens' {tuple(tokens.shape)}")
        if intervention is not None:
            self.check_site(intervention.site)
        # Where every row's prefix is unchanged and recorded, run only from the earliest start on.
        offset = int(resume.start.min()) if resume is not None and intervention is not None and len(tokens) else 0
        if offset and ((output_mask is not None and output_mask[:, :offset].any()) or intervention.mask[:, :offset].any()):
            raise ValueError("a resumed run cannot edit or score positions before its rows' starts")
        past = self._past(intervention.site, resume, offset) if offset else None
        start = nullcontext()
        if intervention is not None:
            if self.cache_states and _is_block(intervention.site):  # before any hook is in place
                start = self._start_at(intervention.site, self._cached_states(intervention.site, tokens)[:, offset:])
        handles = []
        if intervention is not None:

            def edit(module: nn.Module, args: tuple, output: object) -> object:
                hidden = _hidden(output)
                return _replace_hidden(output, intervention.apply(hidden.float(), offset).to(hidden.dtype))

            handles.append(self._module(intervention.site).register_forward_hook(edit))
        if output_mask is not None:
            # The head sees only the kept rows, as one sequence (1, M, d); any elementwise
            # post-processing the model applies to its logits (soft-capping, scaling) still runs.
            def keep(module: nn.Module, args: tuple) -> tuple:
                return (args[0][output_mask[:, offset:]][None], *args[1:])

            handles.append(self.model.get_output_embeddings().register_forward_pre_hook(keep))
        try:
            with start:
                logits = self.model(input_ids=tokens[:, offset:].to(self.device), use_cache=past is not None,
                                    **{self._cache_argument: past}).logits.float()
        finally:
            for handle in handles:
                handle.remove()
        if output_mask is not None:
            return logits[0]
        return F.pad(logits, (0, 0, offset, 0)) if offset else logits


def _stop(module: nn.Module, args: tuple, output: object) -> None:
    raise _Stop


def _hidden(output: object) -> torch.Tensor:
    """The hidden states in a module's output: the tensor itself or the first item of a tuple."""
    return output[0] if isinstance(output, tuple) else output


def _replace_hidden(output: object, hidden: torch.Tensor) -> object:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden
