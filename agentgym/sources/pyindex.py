"""Finding one source distribution (or wheel) on the package indexes pip is configured with, without running pip.

Settings are read the way pip reads them for `pip download`: the `[global]` then `[download]` sections
of the global, user and site config files and `$PIP_CONFIG_FILE` (later ones win), then the
`PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`, `PIP_FIND_LINKS`, `PIP_NO_INDEX` and `PIP_CERT` variables.
Indexes are read through the simple repository API: PEP 691 JSON when the index offers it, else the
PEP 503 HTML page; `find-links` may be local folders or HTML pages. Only names and links are read:
nothing from a package is executed.
"""

from __future__ import annotations

import base64
import configparser
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

DEFAULT_INDEX = "https://pypi.org/simple"
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
PAGE_LIMIT = 64 * 1024**2
TIMEOUT = 60.0
_TRUE = {"1", "true", "yes", "on"}


class PyIndexError(Exception):
    """An index could not be read; the message names it (never its credentials)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class IndexSettings:
    index_url: str = DEFAULT_INDEX
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    cert: str | None = None

    def pages(self) -> list[str]:
        """Indexes in the order they are asked (find-links first: they are local, usually)."""
        return [] if self.no_index else [self.index_url, *self.extra_index_urls]


@dataclass(frozen=True)
class Candidate:
    filename: str
    url: str
    sha256: str | None  # as the index lists it (only used to prefer the pinned file)


def _config_files() -> list[Path]:
    dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    files = [Path(d) / "pip" / "pip.conf" for d in dirs if d] + [Path("/etc/pip.conf")]
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    env_file = os.environ.get("PIP_CONFIG_FILE")
    if not (env_file and os.path.exists(env_file)):
        files += [Path.home() / ".pip" / "pip.conf", home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if env_file:
        files.append(Path(env_file))
    return files


def _read_config() -> dict[str, str]:
    if os.environ.get("PIP_CONFIG_FILE") == os.devnull:
        return {}
    values: dict[str, str] = {}
    for path in _config_files():
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in ("global", "download"):
            if parser.has_section(section):
                values.update({k.replace("_", "-"): v for k, v in parser.items(section)})
    return values


def index_settings() -> IndexSettings:
    conf = {**_read_config()}
    for key in ("index-url", "extra-index-url", "find-links", "no-index", "cert"):
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env is not None:
            conf[key] = env
    return IndexSettings(
        index_url=(conf.get("index-url") or DEFAULT_INDEX).strip(),
        extra_index_urls=conf.get("extra-index-url", "").split(),
        find_links=conf.get("find-links", "").split(),
        no_index=conf.get("no-index", "").strip().lower() in _TRUE,
        cert=conf.get("cert") or None,
    )


# --- reading pages ------------------------------------------------------------------------------


def _context(settings: IndexSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.cert) if settings.cert else ssl.create_default_context()


def request(url: str, accept: str = "*/*") -> urllib.request.Request:
    """A request for `url`; a `user:password@` part becomes a basic Authorization header."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Accept": accept, "User-Agent": "agentgym"}
    if parts.username is not None:
        user, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return urllib.request.Request(url, headers=headers)


def safe_url(url: str) -> str:
    """`url` without its credentials (for messages)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + (parts.hostname or "")))


def urlopen(url: str, settings: IndexSettings, accept: str = "*/*") -> Any:
    """Open an http(s) or file URL (what the index and its files are served by)."""
    try:
        return urllib.request.urlopen(request(url, accept), timeout=TIMEOUT, context=_context(settings))
    except urllib.error.HTTPError as exc:
        raise PyIndexError(f"{safe_url(url)}: HTTP {exc.code} {exc.reason}", exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PyIndexError(f"{safe_url(url)}: {getattr(exc, 'reason', None) or exc}") from None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def _from_html(base: str, text: str) -> list[Candidate]:
    parser = _Links()
    parser.feed(text)
    found = []
    for href, label in parser.links:
        url, _, fragment = urllib.parse.urljoin(base, href).partition("#")
        name = label or urllib.parse.unquote(url.rsplit("/", 1)[-1])
        sha = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
        found.append(Candidate(name, url, sha))
    return found


def _from_json(base: str, text: str) -> list[Candidate]:
    data = json.loads(text)
    files = data.get("files") if isinstance(data, dict) else None
    found = []
    for item in files if isinstance(files, list) else []:
        if isinstance(item, dict) and isinstance(item.get("filename"), str) and isinstance(item.get("url"), str):
            hashes = item.get("hashes") if isinstance(item.get("hashes"), dict) else {}
            found.append(Candidate(item["filename"], urllib.parse.urljoin(base, item["url"]), hashes.get("sha256")))
    return found


def project_page(index: str, project: str, settings: IndexSettings) -> list[Candidate]:
    """The files an index lists for `project` (none when the index does not know it)."""
    url = f"{index.rstrip('/')}/{canonicalize_name(project)}/"
    if url.startswith("file:"):
        folder = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
        if not os.path.isfile(os.path.join(folder, "index.html")):
            return []
        url += "index.html"
    try:
        with urlopen(url, settings, ACCEPT) as resp:
            body = resp.read(PAGE_LIMIT + 1)
            kind = resp.headers.get("Content-Type", "")
    except PyIndexError as exc:
        if exc.status == 404:
            return []
        raise
    if len(body) > PAGE_LIMIT:
        raise PyIndexError(f"{safe_url(url)}: the page is larger than {PAGE_LIMIT} bytes")
    text = body.decode("utf-8", "replace")
    try:
        return _from_json(url, text) if "json" in kind else _from_html(url, text)
    except ValueError as exc:
        raise PyIndexError(f"{safe_url(url)}: unreadable project page ({exc})") from None


def find_links_files(location: str, settings: IndexSettings) -> list[Candidate]:
    """The files of a find-links folder (path or file: URL) or HTML page."""
    path = (
        urllib.request.url2pathname(urllib.parse.urlsplit(location).path) if location.startswith("file:") else location
    )
    if "://" not in path and os.path.isdir(path):
        return [Candidate(n, Path(path, n).resolve().as_uri(), None) for n in sorted(os.listdir(path))]
    if "://" not in location:
        return []
    with urlopen(location, settings, "text/html") as resp:
        return _from_html(location, resp.read(PAGE_LIMIT).decode("utf-8", "replace"))


# --- choosing the file --------------------------------------------------------------------------


def is_sdist_of(filename: str, project: str, version: str) -> bool:
    """Whether `filename` is a source distribution of exactly project==version (PEP 503/440 rules)."""
    stem = next((filename[: -len(s)] for s in SDIST_SUFFIXES if filename.lower().endswith(s)), None)
    if stem is None or "-" not in stem:
        return False
    name, _, got = stem.rpartition("-")
    try:
        return canonicalize_name(name) == canonicalize_name(project) and Version(got) == Version(version)
    except InvalidVersion:
        return False


def is_wheel_of(filename: str, project: str, version: str) -> bool:
    """Whether `filename` is a wheel of exactly project==version (any tags; the caller judges those)."""
    if not filename.lower().endswith(".whl"):
        return False
    try:
        name, got, _build, _tags = parse_wheel_filename(filename)
        return name == canonicalize_name(project) and got == Version(version)
    except (InvalidWheelFilename, InvalidVersion):
        return False


def _find(
    project: str, version: str, sha256: str, settings: IndexSettings, matches: Callable[[str, str, str], bool]
) -> list[Candidate]:
    """Files of project==version on every configured source; stops asking once the pinned file is listed."""
    found: list[Candidate] = []
    for location in settings.find_links:
        found += find_links_files(location, settings)
    for index in settings.pages():
        found += project_page(index, project, settings)
        if any(c.sha256 == sha256 for c in found if matches(c.filename, project, version)):
            break  # the pinned file is known: no need to ask further indexes
    return [c for c in found if matches(c.filename, project, version)]


def find_sdist(project: str, version: str, sha256: str, settings: IndexSettings) -> list[Candidate]:
    """Sdists of project==version on every configured source, the one listed with `sha256` first."""
    matches = _find(project, version, sha256, settings, is_sdist_of)
    return sorted(matches, key=lambda c: (c.sha256 != sha256, not c.filename.endswith(".tar.gz")))


def find_wheel(project: str, version: str, sha256: str, settings: IndexSettings) -> list[Candidate]:
    """Wheels of project==version on every configured source, the one listed with `sha256` first."""
    matches = _find(project, version, sha256, settings, is_wheel_of)
    return sorted(matches, key=lambda c: c.sha256 != sha256)


def describe(settings: IndexSettings) -> str:
    places = [safe_url(u) for u in settings.find_links + settings.pages()]
    return ", ".join(places) or "no package index (PIP_NO_INDEX and no find-links)"
