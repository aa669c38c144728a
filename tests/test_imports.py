"""Reading results must not pay for torch: the report path imports no ML framework."""

import subprocess
import sys


def test_cli_and_report_path_do_not_import_torch():
    code = (
        "import sys, vlmperf.cli, vlmperf.api, vlmperf.report.render; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
