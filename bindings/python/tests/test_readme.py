"""The README's examples, run as written: a README example that stops working fails the build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ServerProcess, repo_root

README_PORT_URL = "ws://127.0.0.1:9090"


def readme_block(readme: Path, name: str) -> str:
    """The code block after `<!-- readme-test: NAME -->` (scripts/readme-block.sh)."""
    root = repo_root()
    return subprocess.run([str(root / "scripts" / "readme-block.sh"), str(readme), name], check=True, capture_output=True, text=True).stdout


def test_readme_first_sync_runs_against_the_example_config(server_bin: Path, tmp_path: Path) -> None:
    root = repo_root()
    code = readme_block(root / "bindings" / "python" / "README.md", "python-example")
    assert README_PORT_URL in code
    (tmp_path / "server").mkdir()
    server = ServerProcess(server_bin, tmp_path / "server", config=root / "server" / "app.example.toml")
    try:
        # The only change: the port the README's server listens on becomes a free one.
        run = subprocess.run(
            [sys.executable, "-c", code.replace(README_PORT_URL, server.url)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr + "".join(server.log)
        assert run.stdout.splitlines() == ["synced: try driftsync ['first']", "tasks: 1 client reset: None"], run.stdout
        # Run again on the same realm file: still no reset, still one task.
        run = subprocess.run([sys.executable, "-c", code.replace(README_PORT_URL, server.url)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stdout.splitlines()[-1] == "tasks: 1 client reset: None", run.stdout
    finally:
        server.stop()
