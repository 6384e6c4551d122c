"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder holding repos/, tasks/, scoring/weights.yaml, prompts/ "
        "(default: the current directory if it has repos/ or tasks/, "
        "else the packaged defaults)."
    ),
]
