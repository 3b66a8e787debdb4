"""The repository's own set-up files: CI script, README commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class TestSetupFiles:
    def test_ci_script_parses_and_runs_make_test(self) -> None:
        script = ROOT / ".ci" / "run"
        subprocess.run(["bash", "-n", str(script)], check=True)
        assert "\nmake test\n" in script.read_text()

    def test_readme_shows_the_two_commands(self) -> None:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        assert "make run" in readme and "make test" in readme
