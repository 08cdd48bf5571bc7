"""The package's shape: imports run one way (import-linter contracts in pyproject.toml) and the command line
starts without torch or transformers."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is a dev dependency")
def test_import_contracts_are_kept():
    result = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "BROKEN" not in result.stdout


def test_cli_and_registry_import_neither_torch_nor_transformers():
    code = (
        "import sys, uruk_hf, uruk_hf.cli, uruk_hf.catalog; "
        "uruk_hf.cli.build_parser(['pipeline']); "
        "print(sorted(name for name in ('torch', 'transformers') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
