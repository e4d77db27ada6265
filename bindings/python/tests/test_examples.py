"""The example scripts run as a user would run them."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def test_quickstart_runs_on_the_bundled_sample():
    out = subprocess.run([sys.executable, str(REPO / "examples" / "python" / "quickstart.py")],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    assert "indexed 2000 documents" in out
    recall = {k: float(v) for k, v in re.findall(r"(vector|hybrid) ([0-9.]+)", out.splitlines()[-1])}
    assert recall["vector"] > 0.7 and recall["hybrid"] >= recall["vector"], out
