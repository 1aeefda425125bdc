"""tests/harness/base-image.sh: the Ubuntu 24.04 host image is used only
while Ubuntu's archive answers, since the ubuntu scenario installs Docker
from it. When the archive does not answer, the script exits 3 (that
scenario is then skipped by name) before it looks for an image: one built
earlier is not used either."""

import os
import subprocess

from conftest import ROOT

SCRIPT = ROOT / "tests/harness/base-image.sh"


def test_the_ubuntu_image_is_not_used_while_the_archive_does_not_answer(tmp_path):
    # A docker that notes every call: the script must not get as far as
    # asking the engine for the image it built before.
    calls = tmp_path / "docker-calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexit 1\n')
    (bin_dir / "docker").chmod(0o755)
    # Nothing listens on the discard port: the connection is refused at once.
    mirror = "http://127.0.0.1:9/ubuntu"
    env = dict(os.environ, MUSICSIM_UBUNTU_MIRROR=mirror, PATH=f"{bin_dir}:{os.environ['PATH']}")
    result = subprocess.run([str(SCRIPT), "noble"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"Ubuntu's archive ({mirror}) does not answer" in result.stderr
    assert not calls.exists(), calls.read_text()
