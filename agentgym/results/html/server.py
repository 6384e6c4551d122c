"""`agentgym view RUNS_ROOT`: the report page served on 127.0.0.1 with its data from JSON endpoints.

Only folders found by walking RUNS_ROOT are served: an id is a folder's path relative to the root as the walk
found it, looked up in that listing (never joined onto a path), so no request reaches anything else; any
other path or id is a 404. The page polls /api/version (a stat of the run's record files) and fetches the
data again when it changed, so trials that finish while it is open appear without a reload.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentgym.results.html.bound import script_json
from agentgym.results.html.build import build_from_runs
from agentgym.results.html.page import render_page
from agentgym.results.html.trials import trial_view
from agentgym.results.rundir import trial_stem
from agentgym.results.runsets import as_result, is_run_folder, model_id_of, read_run

MAX_DEPTH = 3
MAX_ENTRIES = 5000


@dataclass
class Entry:
    id: str
    path: Path
    kind: str  # run or campaign
    runs: list[Path] = field(default_factory=list)  # a campaign's run folders; a run: itself

    def listing(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "models": [model_id_of(p) for p in self.runs],
            "trials": sum(_count_records(p) for p in self.runs),
            "status": _status(self),
        }


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    except OSError:
        return []


def _record_files(run: Path) -> list[os.DirEntry[str]]:
    out = []
    for repo in _subdirs(run / "results"):
        try:
            with os.scandir(repo) as it:
                out += [
                    e for e in it if e.name.endswith(".json") and e.name != "index.json" and not e.name.startswith(".")
                ]
        except OSError:
            continue
    return out


def _count_records(run: Path) -> int:
    return len(_record_files(run))


def _read_status(path: Path) -> str | None:
    try:
        data = json.loads(path.read_bytes()) if path.stat().st_size < 2**24 else None
    except (OSError, ValueError, RecursionError):
        return None
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, str) else None


def _status(entry: Entry) -> str | None:
    if entry.kind == "campaign":
        return _read_status(entry.path / "campaign.json")
    return _read_status(entry.path / "results" / "summary.json")


def scan(root: Path) -> dict[str, Entry]:
    """Run and campaign folders under root (bounded walk; symlinks and hidden folders skipped)."""
    found: dict[str, Entry] = {}

    def walk(folder: Path, depth: int) -> None:
        if len(found) >= MAX_ENTRIES:
            return
        rel = folder.relative_to(root).as_posix()
        if (folder / "campaign.json").is_file():
            runs = [p for p in _subdirs(folder) if is_run_folder(p)]
            found[rel] = Entry(rel, folder, "campaign", runs)
            for run in runs:
                found[run.relative_to(root).as_posix()] = Entry(run.relative_to(root).as_posix(), run, "run", [run])
            return
        if is_run_folder(folder) and folder != root:
            found[rel] = Entry(rel, folder, "run", [folder])
            return
        if depth < MAX_DEPTH:
            for sub in _subdirs(folder):
                walk(sub, depth + 1)

    walk(root, 0)
    return found


class NotFound(Exception):
    pass


class Viewer:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def entry(self, ident: str | None, entries: dict[str, Entry] | None = None) -> Entry:
        """The listed entry `ident` (one walk of the runs root unless `entries` is given)."""
        entry = (entries if entries is not None else scan(self.root)).get(ident or "")
        if entry is None:
            raise NotFound(ident)
        return entry

    def _selection(self, q: dict[str, str], entries: dict[str, Entry]) -> tuple[list[Entry], Entry | None]:
        """(candidate entries, base entry): ?run=ID, or ?a=BASE&b=CANDIDATE."""
        if "run" in q:
            return [self.entry(q["run"], entries)], None
        return [self.entry(q.get("b"), entries)], self.entry(q.get("a"), entries)

    def runs(self) -> dict[str, Any]:
        return {"root": str(self.root), "runs": [e.listing() for e in scan(self.root).values()]}

    def report(self, q: dict[str, str]) -> dict[str, Any]:
        entries = scan(self.root)
        cand, base = self._selection(q, entries)
        ids = {e.path: e.id for e in entries.values()}
        runs = [read_run(p) for e in cand for p in e.runs]
        base_runs = [read_run(p) for p in base.runs] if base else None
        title = f"{cand[0].id}" + (f" vs {base.id} (base)" if base else "")
        return build_from_runs(runs, base_runs, title=title, run_ids=ids, embed_transcripts=False)

    def version(self, q: dict[str, str]) -> dict[str, Any]:
        cand, base = self._selection(q, scan(self.root))
        digest = hashlib.sha256()
        for entry in [*cand, *([base] if base else [])]:
            for run in entry.runs:
                for e in sorted(_record_files(run), key=lambda e: e.path):
                    st = e.stat()
                    digest.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return {"version": digest.hexdigest()[:16]}

    def trial(self, q: dict[str, str]) -> dict[str, Any]:
        entry = self.entry(q.get("run"))
        if entry.kind != "run":
            raise NotFound(q.get("run"))
        run = read_run(entry.path)
        for raw in run.records:
            result = as_result(raw)
            if (
                result
                and result.task.repo == q.get("repo")
                and trial_stem(result.task.id, result.epoch) == q.get("stem")
            ):
                return trial_view(entry.path, result)
        raise NotFound(q.get("stem"))


def _handler(viewer: Viewer, page: str) -> type[BaseHTTPRequestHandler]:
    routes: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
        "/api/runs": lambda q: viewer.runs(),
        "/api/report": viewer.report,
        "/api/version": viewer.version,
        "/api/trial": viewer.trial,
    }

    class Handler(BaseHTTPRequestHandler):
        server_version = "agentgym-view"

        def log_message(self, *args: Any) -> None:  # quiet: the page polls every 1.5 s
            pass

        def _send(self, status: int, body: str, kind: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            if host not in ("127.0.0.1", "localhost"):  # DNS rebinding: only our own origin
                self._send(403, "forbidden\n", "text/plain; charset=utf-8")
                return
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                if url.path == "/":
                    self._send(200, page, "text/html; charset=utf-8")
                elif url.path in routes:
                    self._send(200, script_json(routes[url.path](query)), "application/json")
                else:
                    raise NotFound(url.path)
            except NotFound:
                self._send(404, "not found\n", "text/plain; charset=utf-8")

    return Handler


def make_server(root: Path, port: int) -> ThreadingHTTPServer:
    page = render_page(None, title="AgentGym runs", live=True)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(Viewer(root), page))
    server.daemon_threads = True
    return server


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(root: Path, port: int, announce: Callable[[str], object] = print) -> None:
    """Serve until Ctrl-C (or SIGTERM via KeyboardInterrupt), then close the socket and return."""
    server = make_server(root, port)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`… &`)
    signal.signal(signal.SIGTERM, _interrupt)
    announce(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


__all__ = ["Viewer", "make_server", "scan", "serve"]
