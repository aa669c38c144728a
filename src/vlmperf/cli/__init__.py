"""The `vlmperf` command line: a thin shell over `vlmperf.api`.

Errors a user can fix print one line (per problem) and exit with code 2; `--debug` shows the
traceback instead. Each module registers its commands on the one typer app (`cli.app`).
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Protocol, runtime_checkable

import typer

from vlmperf.cli.app import app, err_console, state
from vlmperf.errors import VlmperfError

__all__ = ["app", "entry"]

for _commands in ("run_commands", "report_commands", "tool_commands"):  # registered in the order --help lists them
    import_module(f"vlmperf.cli.{_commands}")


@runtime_checkable
class _UsageError(Protocol):
    """What click's ClickException, vendored by typer or not, offers: printing its usage message."""

    def show(self) -> None: ...


def _click_errors() -> tuple[type[Exception], ...]:
    """Usage-error classes: typer >= 0.24 vendors its own click, older typer uses click itself."""
    found: list[type[Exception]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        found.append(VendoredClickException)
    except ImportError:
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


def entry() -> None:
    """Console entry point: user errors exit 2 with their message, without a traceback."""
    try:
        code = app(standalone_mode=False)
    except VlmperfError as exc:
        if state["debug"]:
            raise
        for line in str(exc).splitlines():
            # soft_wrap: one problem stays on one line, whatever the terminal width
            err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _click_errors() as exc:  # unknown option, missing argument, ...: click's usage message
        assert isinstance(exc, _UsageError)  # every class _click_errors returns is a ClickException
        exc.show()
        sys.exit(2)
    # without standalone mode, typer returns the exit code of typer.Exit and of Ctrl-C (130)
    if isinstance(code, int) and not isinstance(code, bool) and code:
        sys.exit(code)
