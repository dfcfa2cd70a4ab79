"""Write ``stage_ids.json``: the stage ids and identity payloads of the specs copied in ``specs/``.

Run once, when the copies were taken (``python tests/frozen/freeze.py``); the test
``tests/test_frozen_ids.py`` then holds every later version of the code to them.
Never re-run it to make that test pass: a changed id means existing stores lose their cache.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, which holds the support package, as pytest's pythonpath does

from support.frozen_ids import stage_identities  # noqa: E402

if __name__ == "__main__":
    table = {path.name: stage_identities(path) for path in sorted((HERE / "specs").glob("*.yaml"))}
    (HERE / "stage_ids.json").write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"froze {sum(len(v) for v in table.values())} stages of {len(table)} specs")
