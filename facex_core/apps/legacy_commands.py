"""TRANSITIONAL: the application commands still parked in facex_core.apps, until they move to plugins."""
from __future__ import annotations

import argparse
from typing import Any

from ..plugin_api.components import Command


class _Into:
    """Stands in for a sub-parsers action whose ``add_parser(name)`` returns an existing parser."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return self.parser


def setup_sdk(p: argparse.ArgumentParser) -> None:
    from .sdk_cli import add_sdk_commands

    add_sdk_commands(_Into(p))


def setup_mask(p: argparse.ArgumentParser) -> None:
    from .mask_cli import add_mask_commands

    add_mask_commands(_Into(p))


def setup_data_mask(p: argparse.ArgumentParser) -> None:
    from .mask_cli import add_data_mask_command

    add_data_mask_command(_Into(p))


def setup_data_align(p: argparse.ArgumentParser) -> None:
    from .align_data import add_data_align_command

    add_data_align_command(_Into(p))


def setup_data_synth(p: argparse.ArgumentParser) -> None:
    from .synthetic_cli import setup_data_synth as setup

    setup(p)


def setup_demo(p: argparse.ArgumentParser) -> None:
    from .synthetic_cli import setup_demo as setup

    setup(p)


LEGACY = (
    Command(name="sdk", help="run the SDK stages: detect, align, embed, compare, search, annotate, calibrate",
            setup=f"{__name__}:setup_sdk"),
    Command(name="mask", help="virtual masks (FMA-3D): list templates, lift a template, before/after sheet",
            setup=f"{__name__}:setup_mask"),
    Command(name="mask", group="data", help="masked copy of an image folder, train list or .rec",
            setup=f"{__name__}:setup_data_mask"),
    Command(name="align", group="data", help="raw photos -> aligned 112x112 crops", setup=f"{__name__}:setup_data_align"),
    Command(name="synth", group="data", help="write a synthetic identity data set in the real formats",
            setup=f"{__name__}:setup_data_synth"),
    Command(name="demo", help="synthetic data -> train -> LFW-style evaluation", setup=f"{__name__}:setup_demo"),
)
