"""The benchmark data the tests read, as `tests/conftest.py` chose it: the full shared files,
or the excerpts in `tests/data/` (cut by `tests/data/make_fixtures.py`). Checks that hold on
any rows run on both; counts and rates measured on the full files are marked `FULL`."""

from pathlib import Path

import pytest

from lai.tools import sources

FIXTURES = Path(__file__).parent / "data"
DATA = sources.data_dir() or FIXTURES
FULL = DATA.resolve() != FIXTURES.resolve()
"""Whether the tests read the full shared files."""
needs_full_data = pytest.mark.skipif(not FULL, reason="a measurement on the full shared data "
                                                      "(set LAI_DATA_DIR=../shared/data)")
