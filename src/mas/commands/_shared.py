"""The `mas` command. Thin on purpose: it parses, calls `mas.experiments` or the trainers, and prints."""

from __future__ import annotations

import functools
import inspect
import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined
from rich.console import Console, ConsoleDimensions
from rich.table import Table
from rich.text import Text
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer's own copy of click raises these

from mas import __version__
from mas.devices import using_devices
from mas.errors import SEED_LIMIT, MasError
from mas.progress import is_quiet, quiet
from mas.threads import Work, using_threads


class OneLineErrors(typer.core.TyperGroup):
    """Usage errors (a value of the wrong type, an unknown option, a missing argument) end like every
    other error: one line on stderr, exit status 2, and `{"error": ...}` last on stdout under --json."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        ctx.meta["mas.json"] = "--json" in args
        with self._one_line(ctx):
            return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:
        with self._one_line(ctx):
            return super().invoke(ctx)

    @staticmethod
    @contextmanager
    def _one_line(ctx: typer.Context) -> Iterator[None]:
        try:
            yield
        except NoArgsIsHelpError:
            raise  # a bare `mas` or `mas figure` prints its help
        except UsageError as err:
            path = err.ctx.command_path if err.ctx else ctx.command_path
            _fail(f"{err.format_message()} (see {path} --help)", bool(ctx.meta.get("mas.json")))


app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True, rich_markup_mode=None, help="Model Alignment Search: causal similarity between networks.")
figure_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Reproduce a figure of the paper: a PNG plus the table behind it.")
app.add_typer(figure_app, name="figure")


class StdoutConsole(Console):
    """stdout: on a terminal as wide as the terminal; in a file or a pipe wide enough that no table
    cuts a model name (a log has no width to fit)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(max(size.width, PIPED_WIDTH), size.height)


PIPED_WIDTH = 1000
out_console = StdoutConsole()
err_console = Console(stderr=True)

RUNS = Path("runs")
JSON_HELP = "Make the last stdout line one JSON object with the results (or {\"error\": ...})."
OVERWRITE_HELP = "Replace an output folder that holds something else (never the current folder or home)."
THREADS_HELP = "Torch threads (default: 1 for task models; for language models the usable cores not already busy)."
DEVICE_HELP = ("Where models run: auto (CUDA where present), cpu, cuda or cuda:N; a comma list puts model i on "
               "the i-th device (the last repeats), e.g. cuda:0,cpu.")
QUIET_HELP = "Print no progress (bars, or plain lines when stderr is not a terminal)."

# Settings fields whose command-line flag has another name; errors name the flag.
FLAG_NAMES = {"train_pairs": "--pairs", "cl_weight": "--epsilon", "heldout_counts": "--heldout",
              "max_steps": "--max-steps", "batch_size": "--batch-size", "test_pairs": "--test-pairs"}

# What an interrupted command keeps, said on Ctrl-C (None: nothing half-written is kept).
_resume_hint: ContextVar[str | None] = ContextVar("mas_resume_hint", default=None)


def note_resume(hint: str) -> None:
    """Say what an interrupted run of this command keeps and how to go on (printed on Ctrl-C)."""
    _resume_hint.set(hint)


# Which protocol a figure follows; shared by the figures that have one (see mas.experiments.sweep.SHARED).
PROTOCOL_HELP = ("paper: the reference code's protocol (whole-state swaps, trained to convergence, several model "
                 "pairs); quick: a short schedule for a smoke run on a laptop. Fills every setting not given.")
# The help of a setting that a figure's protocol fills when it is left out.
BY_PROTOCOL = " (default: set by --protocol)"
VARIABLES_HELP = "Variables swapped: count,phase (the whole state) or count"
WHOLE_STATE_HELP = "Only pairs whose counterfactual state is all the source's, or all pairs"
# Where the jobs of a sweep or figure run (see mas.runner); shared by every command that has jobs.
WORKERS = typer.Option(None, help="Run the jobs on a local Ray with N workers (default: one by one in this process).")
RAY_ADDRESS = typer.Option(
    None, "--ray-address", envvar="RAY_ADDRESS", help="Run the jobs on the Ray cluster at ADDRESS (e.g. 10.0.0.1:6379).",
)


def setting(model: type[BaseModel], field: str, *flags: str, help: str | None = None, protocol: bool = False,
            **option: Any) -> Any:
    """A typer option for a field of a settings model, so that its default is written once, on the field.

    The default is the field's (a list as its comma list, e.g. "1,4,16"); the help is the field's
    description as a sentence unless `help` is given. With `protocol`, the option defaults to None
    and the figure's `--protocol` fills it.
    """
    info = model.model_fields[field]
    text = help if help is not None else _sentence(info.description or "")
    if protocol:
        return typer.Option(None, *flags, help=text.rstrip(".") + BY_PROTOCOL, **option)
    default = info.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        raise TypeError(f"{model.__name__}.{field} has no default for an option to take")
    if isinstance(default, list):
        default = ",".join(map(str, default))
    return typer.Option(default, *flags, help=text or None, **option)


def _sentence(text: str) -> str:
    """A field description as help text: capitalised, ending in a full stop."""
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def log_line(line: str) -> None:
    """A progress line on stderr, never wrapped, so logs stay one line per event; none under --quiet."""
    if not is_quiet():
        err_console.print(line, highlight=False, soft_wrap=True, markup=False)


def interval_text(point: dict | None) -> str:
    """A mean and its 95 % interval as printed, e.g. "0.950 [0.943, 0.957]"; "-" where there is none."""
    return "-" if point is None else f"{point['mean']:.3f} [{point['low']:.3f}, {point['high']:.3f}]"


def name_list(text: str) -> list[str]:
    """A comma list of names, blanks around them and empty items dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]


def int_list(text: str, what: str) -> list[int]:
    """A comma list of integers, e.g. "1,4,16"; an empty text is an empty list."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MasError(f"cannot read {what} {text!r}; use comma-separated integers like 1,4,16") from None


def str_list(text: str, what: str) -> list[str]:
    """A comma list of names, e.g. "count,phase"."""
    values = [x.strip() for x in text.split(",") if x.strip()]
    if not values:
        raise MasError(f"{what}: give at least one name")
    return values


def optional_list(text: str | None, parse: Callable[[str, str], list], what: str) -> list | None:
    """`parse(text)` for a given option, None for one left out (its protocol then fills it)."""
    return None if text is None else parse(text, what)


def float_list(text: str, what: str) -> list[float]:
    """A comma list of finite numbers, e.g. "0.1,1,10"; an empty text is an empty list."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = [math.nan]
    if not all(math.isfinite(v) for v in values):
        raise MasError(f"cannot read {what} {text!r}; use comma-separated finite numbers like 0.1,1,10")
    return values


def check_seed(seed: int, flag: str) -> int:
    """A seed numpy and torch both take: an integer from 0 to 2^63 - 1."""
    if not 0 <= seed < SEED_LIMIT:
        raise MasError(f"invalid {flag}: {seed} is not a seed; use an integer from 0 to 2^63 - 1")
    return seed


def check_options(values: dict[str, Any], flags: dict[str, str]) -> None:
    """Refuse, before any work, what no command can use: a seed out of range (options named `seed`,
    `*_seed`, or comma lists `seeds`, `*_seeds`) and a number that is not finite."""
    for name, value in values.items():
        flag = flags[name]
        if (name == "seed" or name.endswith("_seed")) and isinstance(value, int):
            check_seed(value, flag)
        elif (name == "seeds" or name.endswith("_seeds")) and isinstance(value, str):
            for seed in int_list(value, flag):
                check_seed(seed, flag)
        elif isinstance(value, float) and not math.isfinite(value):
            raise MasError(f"invalid {flag}: {value} is not a finite number")


def option_flags(signature: inspect.Signature) -> dict[str, str]:
    """Each parameter's command-line flag: the first long name its typer option declares."""
    flags = {}
    for parameter in signature.parameters.values():
        names = [d.split("/")[0] for d in getattr(parameter.default, "param_decls", None) or () if d.startswith("--")]
        flags[parameter.name] = names[0] if names else "--" + parameter.name.replace("_", "-")
    return flags


def flag_name(field: str) -> str:
    """The command-line flag of a settings field (`k` -> `--k`, `train_pairs` -> `--pairs`)."""
    return FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def _fail(message: str, json_out: bool, status: int = 2) -> None:
    err_console.print(Text("error: ", style="red") + Text(message), highlight=False, soft_wrap=True)
    if json_out:
        emit_json({"error": message})
    raise typer.Exit(status)


# Optional extras: the top-level module a command imports -> the extra that installs it.
EXTRAS = {"transformers": "lm", "gguf": "lm", "accelerate": "lm", "peft": "lm", "ray": "ray"}


def missing_extra(err: ModuleNotFoundError) -> str | None:
    """The one-line error for a module that an optional extra installs; None for any other module."""
    module = (err.name or "").split(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return None
    return (f"this command needs the optional extra [{extra}] ({module} is not installed): "
            f"pip install 'model-alignment-search[{extra}]'")


def guarded(fn: Callable[..., Any], work: Work = "task") -> Callable[..., Any]:
    """Wrap a command: shared options (--threads, --device, --quiet), and every failure as one line and exit status 2.

    Bad input, a settings check and a failed write (disk full, no permission) each end in one line
    on stderr (and `{"error": ...}` as the last stdout line under --json); Ctrl-C says what was kept.
    """

    @functools.wraps(fn)
    def wrapper(
        *args: Any, threads: int | None = None, device: str = "auto", quiet_progress: bool = False, **kwargs: Any
    ) -> Any:
        json_out = bool(kwargs.get("json_out"))
        hint_token = _resume_hint.set(None)
        try:
            check_options(kwargs, flags)
            with using_threads(threads, work), using_devices(device), quiet(quiet_progress):
                return fn(*args, **kwargs)
        except MasError as err:
            _fail(str(err), json_out)
        except ValidationError as err:
            first = err.errors()[0]
            fields = [part for part in first["loc"] if isinstance(part, str) and part.isidentifier()]
            where = flag_name(fields[-1]) if fields else "settings"  # ("directions", 0) names --directions
            _fail(f"invalid {where}: {first['msg']}", json_out)
        except ModuleNotFoundError as err:
            message = missing_extra(err)
            if message is None:
                raise
            _fail(message, json_out)
        except OSError as err:
            where = f" {err.filename}" if err.filename else ""
            _fail(f"cannot write{where}: {err.strerror or err}; finished results written before are kept", json_out)
        except KeyboardInterrupt:
            hint = _resume_hint.get() or "nothing half-written was kept; outputs appear only when a run finishes"
            _fail(f"interrupted: {hint}", json_out, status=130)
        finally:
            _resume_hint.reset(hint_token)

    signature = inspect.signature(fn, eval_str=True)
    flags = option_flags(signature)
    shared = [
        _option("threads", Optional[int], typer.Option(None, "--threads", help=THREADS_HELP, show_default=False)),
        _option("device", str, typer.Option("auto", "--device", help=DEVICE_HELP)),
        _option("quiet_progress", bool, typer.Option(False, "--quiet", help=QUIET_HELP)),
    ]
    parameters = list(signature.parameters.values())
    wrapper.__signature__ = signature.replace(parameters=[*parameters, *shared])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*parameters, *shared]}
    return wrapper


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    """A keyword-only parameter that typer reads as a shared command-line option."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def command(fn: Callable[..., Any] | None = None, *, work: Work = "task") -> Any:
    """Register a top-level `mas` command (`@command`, or `@command(work="lm")` for language models)."""
    if fn is None:
        return lambda f: app.command()(guarded(f, work))
    return app.command()(guarded(fn, work))


def figure_command(name: str, work: Work = "task") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `mas figure NAME`."""
    return lambda fn: figure_app.command(name)(guarded(fn, work))


def emit_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")


def print_matrix(title: str, labels: list[str], matrix: list[list[float | None]]) -> None:
    table = Table(title=title)
    table.add_column("source \\ target")
    for label in labels:
        table.add_column(label, justify="right")
    for label, row in zip(labels, matrix):
        table.add_row(label, *("-" if v is None else f"{v:.3f}" for v in row))
    out_console.print(table)


def parse_directions(text: str) -> list[tuple[int, int]] | None:
    """"all" or a comma list like "0->1,1->0"."""
    if text == "all":
        return None
    try:
        return [tuple(int(x) for x in item.split("->")) for item in text.split(",")]  # type: ignore[misc]
    except ValueError:
        raise MasError(f"cannot read directions {text!r}; use 'all' or e.g. '0->1,1->0'") from None


def _print_version(value: bool) -> None:
    """`mas --version`: print the version and stop."""
    if value:
        sys.stdout.write(f"mas {__version__} (model-alignment-search)\n")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Model Alignment Search: causal similarity between networks."""
