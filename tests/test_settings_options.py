"""Every option of a command that has a settings model takes its default from that model: a default
is written once, on the pydantic field, and the command line cannot drift from the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from mas.align import AlignConfig
from mas.cli import app
from mas.commands._shared import flag_name
from mas.experiments.alignment import AlignmentJob
from mas.experiments.figure_2ab import Figure2abConfig
from mas.experiments.figure_2d import Figure2d
from mas.experiments.figure_3a import Figure3a
from mas.experiments.same_object_study import StudyConfig
from mas.experiments.site_study import SiteStudyConfig
from mas.experiments.sweep import SweepSpec
from mas.models.training import TrainConfig

# Each command and the settings models its options fill.
SETTINGS: dict[str, tuple[type[BaseModel], ...]] = {
    "train": (TrainConfig,),
    "align": (AlignmentJob, AlignConfig),
    "sweep": (SweepSpec,),
    "figure 2ab": (Figure2abConfig,),
    "figure 2d": (Figure2d,),
    "figure 3a": (Figure3a,),
    "same-object-study": (StudyConfig,),
    "site-study": (SiteStudyConfig,),
}
# Options whose command-line value is translated before it reaches the model ('all' directions is None).
TRANSLATED = {("align", "directions")}


def command(path: str) -> Any:
    cmd = typer.main.get_command(app)
    for name in path.split():
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


def as_option(value: object) -> object:
    """A field default as the command line writes it: a list as its comma list."""
    return ",".join(map(str, value)) if isinstance(value, list) else value


def matched_options(path: str) -> list[tuple[Any, type[BaseModel], str]]:
    """Each option of the command with the settings field it sets (same name, or the field's flag)."""
    found = []
    for option in (p for p in command(path).params if p.param_type_name == "option"):
        for model in SETTINGS[path]:
            field = next((f for f in model.model_fields if f == option.name or flag_name(f) in option.opts), None)
            if field is not None and (path, option.name) not in TRANSLATED:
                found.append((option, model, field))
                break
    return found


@pytest.mark.parametrize("path", SETTINGS)
def test_option_defaults_are_their_settings_defaults(path: str) -> None:
    matched = matched_options(path)
    assert len(matched) >= 3, f"mas {path}: too few options matched to {SETTINGS[path]}"
    for option, model, field in matched:
        default = model.model_fields[field].get_default(call_default_factory=True)
        expected = None if default is PydanticUndefined else as_option(default)  # a protocol fills it
        assert option.default == expected, f"mas {path} {option.opts[0]}: {option.default!r} but {model.__name__}.{field} is {expected!r}"


def test_the_sweep_command_and_its_spec_agree_on_ranks_and_steps() -> None:
    options = {option.name: option.default for option, _, _ in matched_options("sweep")}
    assert options["ranks"] == "1,4,16,128" == as_option(SweepSpec.model_fields["ranks"].get_default(call_default_factory=True))
    assert options["steps"] == 300 == SweepSpec.model_fields["steps"].default


def test_an_option_reads_its_help_from_the_field_description() -> None:
    help_text = {option.name: option.help for option, _, _ in matched_options("train")}
    assert help_text["width"] == "Hidden width (and embedding width) of the model."
    assert Path("runs/models") == command("figure 2d").params[1].default
