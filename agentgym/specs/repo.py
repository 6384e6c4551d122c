"""Repo registry entry: `repos/<repo_id>.yaml`."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RepoSpec(BaseModel):
    """Where a repository comes from. Exactly one of url / path / archive / pypi."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Short name used by --repos and by task folders.")
    url: str | None = Field(None, description="git clone URL (any git URL, local paths and file:// too).")
    ref: str | None = Field(None, description="Branch, tag or commit for `url` (default: HEAD).")
    path: str | None = Field(None, description="A local directory (relative to the registry file).")
    archive: str | None = Field(None, description="Local path or http(s) URL of a .tar.gz/.tgz/.zip.")
    pypi: str | None = Field(None, description="NAME==VERSION: a source distribution fetched with pip.")
    sha256: str | None = Field(None, description="Required with archive and pypi: sha256 of the file.")
    strip_components: int | None = Field(
        None, description="Leading path components to drop when unpacking (default: the single top dir)."
    )
    initial_working_dir: str = Field(".", description="Where the agent starts, relative to the repo root.")
    description: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> RepoSpec:
        kinds = [k for k in ("url", "path", "archive", "pypi") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(
                "exactly one of url, path, archive, pypi must be set" + (f" (got {', '.join(kinds)})" if kinds else "")
            )
        if kinds[0] in ("archive", "pypi") and not self.sha256:
            raise ValueError(f"{kinds[0]} sources need sha256")
        if self.sha256 and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        if self.pypi and not re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-!]+", self.pypi):
            raise ValueError("pypi must look like NAME==VERSION")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("url", "path", "archive", "pypi") if getattr(self, k))
