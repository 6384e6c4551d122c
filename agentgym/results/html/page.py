"""The page: a static HTML shell, the stylesheet, Chart.js and report.js inlined, the data as escaped JSON in
`<script type="application/json" id="data">`, and a Content-Security-Policy that allows only those two
inline scripts (by their sha256 hashes), inline styles and data: images. No request leaves the file."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from agentgym.results.html.bound import script_json

CHART_JS = Path("vendor/node_modules/chart.js/dist/chart.umd.min.js")
CHART_JS_FALLBACK = Path("vendor/node_modules/chart.js/dist/chart.umd.js")
NO_CHARTS = "/* Chart.js is not installed: charts are unavailable (run scripts/setup.sh) */ window.Chart = undefined;"
SOURCE_MAP = re.compile(r"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
MAX_PAGE = 64 * 2**20  # bytes: a page larger than this is refused (TOTAL_CAP keeps trial views below it)


def _data_dir() -> Path:
    return Path(str(resources.files("agentgym") / "data"))


def _asset(name: str) -> str:
    return (_data_dir() / "html" / name).read_text(encoding="utf-8")


@cache
def chart_js() -> str | None:
    """The pinned Chart.js bundle (installed by `npm ci --prefix agentgym/data/vendor`), or None."""
    for rel in (CHART_JS, CHART_JS_FALLBACK):
        path = _data_dir() / rel
        if path.is_file():
            text = SOURCE_MAP.sub("", path.read_text(encoding="utf-8"))
            return text.replace("</script", "<\\/script")  # never the case in 4.x; kept so it cannot end the element
    return None


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def csp(scripts: list[str], *, connect: bool) -> str:
    """default-src 'none'; only the given inline scripts; inline styles; data: images; fetch to self if served."""
    parts = [
        "default-src 'none'",
        "script-src " + " ".join(_hash(s) for s in scripts),
        "style-src 'unsafe-inline'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    if connect:
        parts.append("connect-src 'self'")
    return "; ".join(parts)


def render_page(data: dict[str, Any] | None, *, title: str, live: bool = False) -> str:
    """The whole page. data None (live): the page fetches it from the viewer's endpoints."""
    charts = chart_js()
    config = {"mode": "live" if live else "file", "charts": charts is not None}
    scripts = [charts or NO_CHARTS, _asset("report.js")]
    head = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp(scripts, connect=live))}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_asset('report.css')}</style>\n</head>\n"
    )
    body = (
        '<body><div id="app"><noscript>This report needs JavaScript to render.</noscript></div>\n'
        f'<script type="application/json" id="config">{script_json(config)}</script>\n'
        f'<script type="application/json" id="data">{script_json(data) if data is not None else "null"}</script>\n'
        + "".join(f"<script>{s}</script>\n" for s in scripts)
        + "</body></html>\n"
    )
    page = head + body
    if len(page.encode("utf-8")) > MAX_PAGE:
        raise ValueError(f"the report would be {len(page) // 2**20} MiB, above the {MAX_PAGE // 2**20} MiB cap")
    return page


__all__ = ["chart_js", "csp", "render_page"]
