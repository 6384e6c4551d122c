"""Write the campaign file of the eval workflow from its inputs (read from the environment, never templated
into a shell line) and print `campaign=<id>` to $GITHUB_OUTPUT. Bad input: one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9._:/@+-]{1,120}$")


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(out: Path) -> None:
    models = [m.strip() for m in os.environ.get("MODELS", "").split(",") if m.strip()]
    if not models or not all(NAME.match(m) for m in models):
        fail("models: give comma-separated model names (letters, digits and ._:/@+-)")
    repos = [r.strip() for r in os.environ.get("REPOS", "").split(",") if r.strip()]
    epochs = os.environ.get("EPOCHS", "1").strip() or "1"
    if not epochs.isdigit() or not 1 <= int(epochs) <= 100:
        fail(f"epochs: expected an integer from 1 to 100, got '{epochs[:40]}'")
    base_url = os.environ.get("INPUT_BASE_URL", "").strip() or os.environ.get("SECRET_BASE_URL", "").strip()
    campaign_id = f"gh-{os.environ.get('RUN_ID', 'local')}"
    entries = [
        {"model": m, "api_key_env": "OPENAI_API_KEY", **({"base_url": base_url} if base_url else {})} for m in models
    ]
    spec = {"models": entries, "epochs": int(epochs), "campaign_id": campaign_id, "runs_root": "runs"}
    if repos:
        spec["repos"] = repos
    out.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
    github_output = os.environ.get("GITHUB_OUTPUT")
    if github_output:
        with open(github_output, "a", encoding="utf-8") as fh:
            fh.write(f"campaign={campaign_id}\n")
    print(f"campaign {campaign_id}: {len(models)} model(s), epochs {epochs}, repos {','.join(repos) or 'all'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "campaign.yaml"))
