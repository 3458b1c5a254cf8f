"""Where the tests find benchmark data: `$LAI_DATA_DIR` when set, else `../shared/data` when
this checkout has it (the full files: the measurements run), else the excerpts committed in
`tests/data/` (the checks run on a few rows each; see `tests/benchmark_data.py`)."""

import os
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
_FIXTURES = Path(__file__).parent / "data"

if not os.environ.get("LAI_DATA_DIR"):
    os.environ["LAI_DATA_DIR"] = str(_SHARED if (_SHARED / "gsm8k" / "test.jsonl").is_file() else _FIXTURES)
