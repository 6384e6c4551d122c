"""Test helpers: real wheel files made with zipfile, and a PEP 503 simple index on 127.0.0.1 serving them."""

from __future__ import annotations

import base64
import csv
import hashlib
import http.server
import importlib.metadata
import io
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tests.conftest import BytesHandler

PYTEST_DISTS = ("pytest", "pluggy", "iniconfig", "packaging")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    files: dict[str, bytes],
    *,
    tag: str = "py3-none-any",
    record: dict[str, str] | None = None,  # path -> hash field, overriding the true one
    raw: list[tuple[zipfile.ZipInfo, bytes]] = (),  # type: ignore[assignment]
) -> Path:
    """A wheel with METADATA, WHEEL and a RECORD that lists every file with its sha256 (unless overridden)."""
    dist = f"{re.sub(r'[-_.]+', '_', name)}-{version}"
    members = dict(files)
    members[f"{dist}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    members[f"{dist}.dist-info/WHEEL"] = f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for path, data in members.items():
        writer.writerow([path, (record or {}).get(path, f"sha256={_b64(data)}"), len(data)])
    writer.writerow([f"{dist}.dist-info/RECORD", "", ""])
    members[f"{dist}.dist-info/RECORD"] = out.getvalue().encode()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in members.items():
            zf.writestr(path, data)
        for info, data in raw:
            zf.writestr(info, data)
    return target


def installed_wheel(folder: Path, dist_name: str) -> Path:
    """A wheel of an installed distribution (its importable files only), for a real pytest in the sandbox."""
    dist = importlib.metadata.distribution(dist_name)
    files: dict[str, bytes] = {}
    for item in dist.files or []:
        rel = str(item)
        if rel.startswith("..") or ".dist-info/" in rel or "__pycache__" in rel or rel.endswith(".pyc"):
            continue
        files[rel] = Path(str(item.locate())).read_bytes()
    return make_wheel(folder, dist.metadata["Name"], dist.version, files)


@dataclass
class Index:
    url: str
    files: dict[str, bytes]
    requests: list[str]
    unhashed: set[str] = field(default_factory=set)  # file names listed without their sha256


class _Handler(BytesHandler):
    index: ClassVar[Index]

    def do_GET(self) -> None:
        self.index.requests.append(self.path)
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "simple":
            links = []
            for name, data in sorted(self.index.files.items()):
                if re.sub(r"[-_.]+", "-", name.split("-", 1)[0]).lower() == parts[1]:
                    frag = "" if name in self.index.unhashed else f"#sha256={hashlib.sha256(data).hexdigest()}"
                    links.append(f'<a href="../../files/{name}{frag}">{name}</a>')
            if not links:
                self.send_error(404)
                return
            self._send("text/html", f"<html><body>{''.join(links)}</body></html>".encode())
        elif len(parts) == 2 and parts[0] == "files" and parts[1] in self.index.files:
            self._send("application/octet-stream", self.index.files[parts[1]])
        else:
            self.send_error(404)


@contextmanager
def serve_index(wheels: list[Path]) -> Iterator[Index]:
    """A simple index of `wheels` (HTML, PEP 503) on 127.0.0.1; every request path is recorded."""
    index = Index("", {w.name: w.read_bytes() for w in wheels}, [])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"index": index}))
    index.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()


def pip_env(index: Index) -> dict[str, str]:
    """Variables that point the index lookups (sources/pyindex.py) at `index` alone."""
    return {
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_INDEX_URL": index.url,
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_NO_INDEX": "",
        "no_proxy": "127.0.0.1,localhost",
    }
