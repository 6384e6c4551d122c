"""Repo registry entry: `repos/<repo_id>.yaml`."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

_REQUIREMENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._\-]*[A-Za-z0-9])?==[A-Za-z0-9_.+\-!]+")


class WheelPin(BaseModel):
    """One wheel of a test environment: which release, and which file of it (by content)."""

    model_config = ConfigDict(extra="forbid")

    requirement: str = Field(description="NAME==VERSION of the distribution.")
    sha256: str = Field(description="sha256 of the wheel file (64 lowercase hex digits).")

    @model_validator(mode="after")
    def _check(self) -> WheelPin:
        if not _REQUIREMENT.fullmatch(self.requirement):
            raise ValueError(f"requirement must look like NAME==VERSION (got {self.requirement!r})")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"{self.requirement}: sha256 must be 64 lowercase hex digits")
        return self

    @property
    def name(self) -> str:
        return self.requirement.partition("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.partition("==")[2]


class TestEnvSpec(BaseModel):
    """The Python packages an edit task's tests need (grading/wheelenv.py): pure-Python wheels, pinned."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(extra="forbid")

    wheels: list[WheelPin] = Field(min_length=1, description="Pinned wheels; pytest must be one of them.")
    pythonpath: list[str] = Field(
        default_factory=list, description="Repo-relative dirs put first on PYTHONPATH in the sandbox."
    )

    @model_validator(mode="after")
    def _check(self) -> TestEnvSpec:
        names = [_canonical(w.name) for w in self.wheels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"wheels: {', '.join(dupes)} pinned more than once")
        if "pytest" not in names:
            raise ValueError("wheels: pytest must be one of them (grading runs pytest)")
        for entry in self.pythonpath:
            parts = entry.replace("\\", "/").split("/")
            if not entry or entry.startswith("/") or ".." in parts or any(c in entry for c in ":\0\n"):
                raise ValueError(f"pythonpath: {entry!r} must be a relative path inside the repo, without '..'")
        return self


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


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
    test_env: TestEnvSpec | None = Field(
        None, description="Edit tasks: the test environment built from pinned wheels (default: the harness's pytest)."
    )

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
