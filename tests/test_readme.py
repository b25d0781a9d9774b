"""The README's walk-through, run as written against `sharelinks serve` on the embedded default."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sharelinks.testing.server import free_port

README = Path(__file__).resolve().parent.parent / "README.md"


def walkthrough_commands() -> str:
    text = README.read_text()
    section = text.split("## Five-minute walk-through", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```bash\n(.*?)```", section, flags=re.S))


def test_readme_opens_with_the_two_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks[0].strip().endswith("sharelinks serve")
    assert blocks[1].strip().endswith("python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci  # CI runs the same test command


def test_walkthrough_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("SHARELINKS_DATABASE_URL", None)  # the embedded default: ./sharelinks.db
    server = subprocess.Popen(
        [sys.executable, "-m", "sharelinks", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        script = "set -euo pipefail\n" + walkthrough_commands().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        result = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in re.findall(r"^\{.*\}$", result.stdout.replace("}{", "}\n{"), flags=re.M)]
    person, link, custom, reserved, event = objects
    assert person["email"] == "alex@example.com"
    assert link["label"] == "refer-a-friend" and link["link"] == f"https://share.yourbrand.com/{link['code']}"
    assert custom["code"] == "alex-vip"
    assert reserved["code"] == "code_contains_reserved_word" and reserved["http_status_code"] == 400
    assert set(event) == {"event_id", "person_id"}
