"""One trainer for DAS, MAS, stitching and CLMAS: n models, a site map, any set of directions.

A direction (s, t) writes what the site map makes of model s's state into model t's and asks t to
carry on as the counterfactual says. With the rotation-interchange map, n = 1 and direction (0, 0)
is DAS and all n² directions are MAS; with the linear-stitch map it is model stitching. Directions
given counterfactual latents instead of (or beside) behaviour add ε × the CL loss: that is CLMAS.

Models may sit on different devices. Each model's map parameters, interventions and losses live
where its site's states live (`ModelAdapter.site_device`); a direction's encoded source vectors
move to its target's device in one explicit step, and the loss terms meet on the first term's device.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import BaseModel, Field, field_validator
from torch import nn
from torch.nn.utils import parametrize

from mas.adapters.base import ModelAdapter
from mas.adapters.resume import Resume
from mas.align.counterfactual_latents import LatentPairs
from mas.align.directions import DirectionSampler, DirectionSampling
from mas.align.interchange import (
    DirectionPart,
    Interchange,
    correct_predictions,
    read_resume,
    read_source_states,
    read_states,
    stacked_batch,
)
from mas.align.losses import counterfactual_latent_loss, per_direction_ce
from mas.align.maps import Direction, SiteMap
from mas.align.reach import check_reach
from mas.align.rotation import DEFAULT_MAP, OrthogonalMap
from mas.errors import MasError
from mas.memory import release_free_memory
from mas.progress import progress_bar
from mas.tasks.pairs import IGNORE, PairSet

TRIM_EVERY = 50  # steps between returns of freed memory to the OS (see mas.memory)


def all_directions(n: int) -> list[Direction]:
    return [(s, t) for s in range(n) for t in range(n)]


def direction_key(direction: Direction) -> str:
    return f"{direction[0]}->{direction[1]}"


def check_cl_weight(value: float) -> float:
    """ε weighs the counterfactual-latent loss; a negative weight would reward distance from the latent."""
    if value < 0:
        raise MasError(f"the CL loss weight ε must be ≥ 0, not {value}")
    return value


class AlignConfig(BaseModel):
    """Optimisation settings; the defaults are the reference defaults for numeric-task hidden states."""

    k: int = Field(32, ge=1, description="size of the swapped aligned subspace")
    steps: int = Field(2000, ge=1, description="maximum optimisation steps")
    lr: float = Field(3e-3, gt=0, description="peak learning rate (see `lr_schedule`)")
    lr_schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="cosine decay to 0 over `steps`, or the reference's constant rate",
    )
    batch_size: int = Field(128, ge=1, description="pairs per direction per step")
    seed: int = 0
    eval_every: int = Field(50, ge=1)
    stop_accuracy: float = Field(0.995, description="stop once every direction's validation trial accuracy reaches this")
    keep_target: bool = Field(True, description="False drops the target's own state: orthogonal stitching")
    cl_weight: float = Field(1.0, description="ε, the weight of the counterfactual-latent loss")
    orthogonal_map: OrthogonalMap = Field(DEFAULT_MAP, description="how each rotation is parametrized (see mas.align.rotation)")
    patience: int | None = Field(
        None, ge=1, description="stop after this many evaluations without a better mean validation accuracy and keep "
        "the best evaluation's parameters; `steps` is then the ceiling. None trains to `steps`",
    )
    stopping: Literal["validation", "reference"] = Field(
        "validation", description="validation: stop once every validation direction reaches `stop_accuracy`, or on "
        "`patience` (accuracy). reference: stop once training and validation trial accuracy both reach it, or when "
        "the validation loss has not improved by `min_delta` for `patience` evaluations (the reference code's rule)",
    )
    min_delta: float = Field(1e-3, ge=0, description="the least drop in validation loss that counts as improving")
    direction_sampling: DirectionSampling = Field(
        "all", description="all: every behavioural direction at every step (n² target passes for n models). "
        "derangement: one random shift of a random order of the models per step, each model once as source and "
        "once as target (n passes), every direction trained within 2n − 1 steps (see mas.align.directions)",
    )

    @field_validator("cl_weight")
    @classmethod
    def _non_negative(cls, value: float) -> float:
        return check_cl_weight(value)


@dataclass
class FitResult:
    rotations: nn.Module  # the trained map parameters: Rotations for DAS/MAS/CLMAS, Stitches for stitching
    steps: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    selected_step: int | None = None  # the step whose parameters were kept, when selecting on validation
    stop_reason: str = "ceiling"  # "solved", "plateau" or "ceiling" (ran every step)


def check_sites(adapters: Sequence[ModelAdapter], sites: Sequence[str]) -> list[int]:
    """Widths of every model's site; refuses unknown sites."""
    if len(sites) != len(adapters):
        raise MasError(f"{len(adapters)} models but {len(sites)} sites")
    return [a.width(s) for a, s in zip(adapters, sites)]


class AlignmentTrainer:
    """Learns a site map so that interventions make each target act as the counterfactual says.

    Source states are read once per pair set and reused by every step; each step runs every
    target once, on all of its directions stacked along the batch.
    """

    def __init__(
        self,
        adapters: Sequence[ModelAdapter],
        sites: Sequence[str],
        config: AlignConfig,
        site_map: SiteMap | None = None,
        state_cache: dict | None = None,
    ) -> None:
        """`state_cache` may be shared by trainers over the same models and sites (e.g. a sweep),
        so each pair set's states are read once for all of them."""
        self.adapters = list(adapters)
        self.sites = list(sites)
        self.config = config
        self.site_map: SiteMap = site_map if site_map is not None else Interchange(
            config.k, config.keep_target, config.orthogonal_map
        )
        self.widths = check_sites(self.adapters, self.sites)
        self.site_map.check(self.widths)
        self.devices = [a.site_device(s) for a, s in zip(self.adapters, self.sites)]
        self._cache: dict[tuple[str, int, int], Any] = state_cache if state_cache is not None else {}

    def source_states(self, source: int, pairs: PairSet) -> torch.Tensor:
        key = ("source", source, id(pairs))
        if key not in self._cache:
            self._cache[key] = read_source_states(self.adapters[source], self.sites[source], pairs)
        return self._cache[key]

    def target_states(self, target: int, pairs: PairSet) -> torch.Tensor:
        """The target's own recorded states at the pairs' target positions (no intervention)."""
        key = ("target", target, id(pairs))
        if key not in self._cache:
            self._cache[key] = read_states(self.adapters[target], self.sites[target], pairs.tokens, pairs.target_positions)
        return self._cache[key]

    def resume_point(self, target: int, pairs: PairSet) -> Resume | None:
        """Where the target can start on each pair, recorded once per pair set (see `read_resume`)."""
        key = ("resume", target, id(pairs))
        if key not in self._cache:
            self._cache[key] = read_resume(self.adapters[target], self.sites[target], pairs)
        return self._cache[key]

    def check_targets_reached(self, train: Mapping[Direction, PairSet]) -> None:
        """Refuse, before training, a target whose site no written state gets past (see `mas.align.reach`)."""
        for target in sorted({t for _, t in train}):
            pairs = next(p for d, p in train.items() if d[1] == target)
            key = ("reach", target, id(pairs))
            if key not in self._cache:
                check_reach(self.adapters[target], self.sites[target], pairs)
                self._cache[key] = True

    def new_maps(self, seed: int | None = None) -> nn.Module:
        return self.place(self.site_map.build(self.widths, self.config.seed if seed is None else seed))

    def place(self, maps: nn.Module) -> nn.Module:
        """Move `maps` in place so each model's parameters sit on its site's device; returns them."""
        return self.site_map.place(maps, self.devices)

    def encoded_for(self, mats: Any, direction: Direction, states: torch.Tensor) -> torch.Tensor:
        """The source side of `direction` (computed on the source's device), moved to the target's."""
        return self.site_map.encode(mats, direction, states).to(self.devices[direction[1]])

    def forward(
        self,
        rotations: Any,
        target: int,
        batches: Mapping[Direction, PairSet],
        indices: Mapping[Direction, torch.Tensor | slice],
        feed: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, list[Direction]]:
        """Logits and labels of `target` on every given direction into it, in one pass.

        `rotations` is the maps' `matrices()` for this step (the Q's for MAS).
        """
        dirs = list(batches)
        parts = [
            DirectionPart(
                pairs=batches[d].subset(indices[d]),
                encoded=self.encoded_for(rotations, d, self.source_states(d[0], batches[d])[indices[d]]),
            )
            for d in dirs
        ]
        tokens, labels, intervention = stacked_batch(
            self.sites[target], parts, lambda encoded, rows: self.site_map.decode(rotations, target, encoded, rows)
        )
        adapter = self.adapters[target]
        resume = None
        if adapter.resumes(feed):
            resumes = [self.resume_point(target, batches[d]) for d in dirs]
            if all(r is not None for r in resumes):
                resume = Resume.cat([r.subset(indices[d]) for r, d in zip(resumes, dirs)], tokens.shape[1])
        scored = (labels != IGNORE).to(adapter.device)
        logits = adapter.run(tokens.to(adapter.device), intervention, scored if feed else None, scored, resume)
        return logits, labels, dirs

    def written_states(
        self, mats: Any, direction: Direction, latents: LatentPairs, index: torch.Tensor | slice
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows h̃ the map writes into the target at each intervened slot, beside their recorded latents.

        Needs no run of the target past the site: only its recorded state there.
        """
        pairs = latents.pairs
        encoded = self.encoded_for(mats, direction, self.source_states(direction[0], pairs)[index])
        own = self.target_states(direction[1], pairs)[index]
        used = (pairs.target_positions[index] >= 0).nonzero(as_tuple=True)  # on the host: no wait for the device
        written = self.site_map.decode(mats, direction[1], encoded[used], own[used])
        return written, latents.latents[index][used].to(own.device)

    def objective(
        self,
        mats: Any,
        train: Mapping[Direction, PairSet],
        latents: Mapping[Direction, LatentPairs],
        generator: torch.Generator,
        trials: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Behavioural CE summed over `train`'s directions + ε × CL loss summed over `latents`' directions.

        `trials`, when given, receives each behavioural batch's per-pair trial correctness (teacher-forced,
        which equals free-running trial correctness): the training accuracy a stopping rule reads.
        """
        cfg = self.config
        terms = []
        for target in sorted({t for _, t in train}):
            into = {d: p for d, p in train.items() if d[1] == target}
            idx = {d: torch.randint(len(p), (cfg.batch_size,), generator=generator) for d, p in into.items()}
            logits, labels, dirs = self.forward(mats, target, into, idx)
            terms.append(per_direction_ce(logits, labels, len(dirs)).sum())
            if trials is not None:
                trials.append(correct_predictions(logits.detach(), labels)[0])
        for direction, pairs in latents.items():
            index = torch.randint(len(pairs), (cfg.batch_size,), generator=generator)
            written, recorded = self.written_states(mats, direction, pairs, index)
            terms.append(cfg.cl_weight * counterfactual_latent_loss(written, recorded).float())
        return torch.stack([term.to(terms[0].device) for term in terms]).sum()

    def fit(
        self,
        train: Mapping[Direction, PairSet],
        validation: Mapping[Direction, PairSet] | None = None,
        rotations: nn.Module | None = None,
        show_progress: bool = True,
        latents: Mapping[Direction, LatentPairs] | None = None,
        select: Sequence[Direction] | None = None,
    ) -> FitResult:
        """Train the maps on `train` (behaviour) and `latents` (CL); stop early as the config's `stopping` says.

        Each step trains the behavioural directions the config's `direction_sampling` draws from `train`
        (all of them by default). Parameters of `rotations` that do not require gradients stay frozen.

        With `select`, the parameters kept are those of the evaluation with the best mean validation
        accuracy over those directions, not the last ones. With the config's `patience`, training also
        stops on a plateau (see `AlignConfig.stopping`) and the best evaluation's parameters are kept.
        """
        cfg = self.config
        latents = dict(latents or {})
        for direction, pairs in [*train.items(), *latents.items()]:
            if len(pairs) == 0:
                raise MasError(f"direction {direction_key(direction)} has no training pairs")
        if not train and not latents:
            raise MasError("nothing to train: no behavioural and no counterfactual-latent directions")
        if select and (validation is None or any(d not in validation for d in select)):
            raise MasError("selecting on validation needs validation pairs for every selected direction")
        if cfg.patience is not None and not validation:
            raise MasError("early stopping with patience needs validation pairs")
        # The directions whose mean validation accuracy picks the kept parameters (and feeds patience).
        chosen = list(select) if select else list(validation) if cfg.patience is not None else []
        self.check_targets_reached(train)
        maps = self.place(rotations) if rotations is not None else self.new_maps()
        trainable = [p for p in maps.parameters() if p.requires_grad]  # frozen maps (e.g. a population's) stay as given
        if not trainable:
            raise MasError("nothing to train: every map parameter is frozen")
        optimizer = torch.optim.Adam(trainable, lr=cfg.lr)
        sampled = iter(DirectionSampler(list(train), cfg.direction_sampling, seed=cfg.seed + 2))
        schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
                    if cfg.lr_schedule == "cosine" else None)
        generator = torch.Generator().manual_seed(cfg.seed + 1)
        history: list[dict] = []
        best: tuple[float, int, dict] | None = None
        plateau = _Plateau(cfg)
        trials: list[torch.Tensor] = []  # training trial correctness since the last evaluation
        start = time.perf_counter()
        step, reason = 0, "ceiling"
        with progress_bar(show_progress) as bar:
            job = bar.add_task("aligning", total=cfg.steps, status="")
            for step in range(1, cfg.steps + 1):
                optimizer.zero_grad()
                with parametrize.cached():
                    step_train = {d: train[d] for d in next(sampled)}
                    total = self.objective(maps.matrices(), step_train, latents, generator, trials)
                    total.backward()
                if not torch.isfinite(total):
                    raise MasError(f"the alignment loss became {total.item()} at step {step}; try a smaller --lr")
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                if step % TRIM_EVERY == 0:
                    release_free_memory()
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    record: dict[str, Any] = {"step": step, "loss": total.item()}
                    if trials:
                        record["train_trial"] = float(torch.cat(trials).float().mean())
                        trials.clear()
                    if validation is not None:
                        accuracy, record["val_loss"] = self.validation_scores(maps, validation)
                        record["val_trial"] = {direction_key(d): a for d, a in accuracy.items()}
                        if chosen:
                            score = sum(accuracy[d] for d in chosen) / len(chosen)
                            if best is None or score > best[0]:
                                best = (score, step, copy.deepcopy(maps.state_dict()))
                    history.append(record)
                    bar.update(job, status=f"loss {record['loss']:.3f}")
                    reason = plateau.verdict(record, best[1] if best else None)
                    if reason != "ceiling":
                        bar.update(job, completed=step)
                        break
                bar.advance(job)
        if best is not None:
            maps.load_state_dict(best[2])
        return FitResult(maps, step, time.perf_counter() - start, history, None if best is None else best[1], reason)

    @torch.no_grad()
    def validation_scores(
        self, rotations: nn.Module, pairs: Mapping[Direction, PairSet]
    ) -> tuple[dict[Direction, float], float]:
        """Teacher-forced trial accuracy per direction (equal to free-running trial accuracy: the first
        wrong token is wrong in both, at a fraction of the cost for non-recurrent targets), and the
        mean cross-entropy over the directions."""
        with parametrize.cached():
            mats = rotations.matrices()
            accuracy, losses = {}, []
            for d, p in pairs.items():
                logits, labels, _ = self.forward(mats, d[1], {d: p}, {d: slice(None)})
                accuracy[d] = float(correct_predictions(logits, labels)[0].float().mean())
                losses.append(float(per_direction_ce(logits, labels, 1)))
        return accuracy, sum(losses) / len(losses)

    def validation_accuracy(self, rotations: nn.Module, pairs: Mapping[Direction, PairSet]) -> dict[Direction, float]:
        """Trial accuracy per validation direction (see `validation_scores`)."""
        return self.validation_scores(rotations, pairs)[0]


class _Plateau:
    """When a fit stops, by the config's `stopping` rule; reads one evaluation record at a time."""

    def __init__(self, config: AlignConfig) -> None:
        self.config = config
        self.best_loss = float("inf")
        self.stale = 0  # evaluations since the last improvement

    def verdict(self, record: dict, best_step: int | None) -> str:
        """"solved", "plateau", or "ceiling" (go on; the name a fit that runs every step ends with)."""
        cfg = self.config
        if "val_trial" not in record:
            return "ceiling"
        val = min(record["val_trial"].values())
        if cfg.stopping == "reference":
            solved = val >= cfg.stop_accuracy and record.get("train_trial", 1.0) >= cfg.stop_accuracy
            improved = record["val_loss"] < self.best_loss - cfg.min_delta
            if improved:
                self.best_loss = record["val_loss"]
        else:
            solved = val >= cfg.stop_accuracy
            improved = best_step == record["step"]
        self.stale = 0 if improved else self.stale + 1
        if solved:
            return "solved"
        return "plateau" if cfg.patience is not None and self.stale >= cfg.patience else "ceiling"
