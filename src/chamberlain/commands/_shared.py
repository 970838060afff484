"""What every command shares: the data folder option, a runtime to work in, clean errors."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..actions import Surface
from ..app import Runtime
from ..config import Settings

T = TypeVar("T")


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    return Settings.from_env(data_dir=data_dir, **overrides)


def _with_runtime(settings: Settings, fn: Callable[[Runtime], Awaitable[T]], surface: Surface | None = None) -> T:
    async def run() -> T:
        runtime = Runtime(surface or Surface("cli"), settings)
        async with runtime.running():
            return await fn(runtime)

    return asyncio.run(run())


def _names(text: str) -> list[str]:
    """``'orders.*, customers.get'`` → ``['orders.*', 'customers.get']``."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _usage_error(err: Exception) -> click.ClickException:
    """A refusal as one clean line (LookupError's repr quotes would otherwise show)."""
    return click.ClickException(str(err).strip("'\""))


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    envvar="CHAMBERLAIN_DATA_DIR",
    help="Folder holding the database and key files [default: ./chamberlain-data].",
)


def load_surface(target: str) -> Surface:
    """``package.module:attribute`` → the Surface object it names."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise click.BadParameter("use MODULE:SURFACE, for example myshop.actions:surface")
    sys.path.insert(0, str(Path.cwd()))
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise click.BadParameter(f"cannot load {target}: {err}") from err
    if not isinstance(obj, Surface):
        raise click.BadParameter(f"{target} is a {type(obj).__name__}, not a chamberlain.Surface")
    return obj


DEMO_SURFACE = "chamberlain.demo:shop"


def surface_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--surface MODULE:SURFACE`` (the demo shop by default): the actions a command checks against."""
    return click.option("--surface", "target", default=DEMO_SURFACE, show_default=True, help=help)
