"""The typer application every command registers on, its consoles and the options they share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vlmperf.store.sqlite import DEFAULT_DIR

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="Measure what a vision-language model costs and how well it answers.",
)
out_console = Console(width=None if sys.stdout.isatty() else 250)
err_console = Console(stderr=True)
state = {"debug": False}

OutOption = Annotated[Path, typer.Option("--out", help="folder of the results store")]
__all__ = ["DEFAULT_DIR", "OutOption", "app", "err_console", "out_console", "state"]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    state["debug"] = debug
