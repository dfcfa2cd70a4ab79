"""Write ``quickstart_golden.json``: the frozen quickstart's headline numbers and the fingerprint of
the environment that computed them.

Run it only when the numbers are meant to change (a new lock, a deliberate change of a study), from
the locked environment (``make test`` sets it up):

    .venv/bin/python tests/frozen/freeze_golden.py

``tests/test_golden_quickstart.py`` then compares every later run with them: to the bit where the
fingerprint equals this one, within stated tolerances elsewhere.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, which holds the support package, as pytest's pythonpath does

from support.golden_quickstart import GOLDEN, fingerprint, headline, run_quickstart  # noqa: E402

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "quickstart"
        numbers = headline(run_quickstart(store))
        frozen = {"headline": numbers, "fingerprint": fingerprint(store), "spec": "tests/frozen/specs/quickstart.yaml"}
    GOLDEN.write_text(json.dumps(frozen, indent=1, sort_keys=True) + "\n")
    print(f"froze {len(numbers)} numbers under {', '.join(f'{k}={v}' for k, v in frozen['fingerprint'].items())}")
