import pytest

from lai.agents.allocation import samples_per_error


@pytest.mark.parametrize("budget,errors,expected", [
    (3000, 1000, 4),   # the paper: ceil(3000/1000) + 1
    (3000, 1500, 3),
    (320, 64, 6),
    (320, 100, 5),
    (10, 64, 2),
    (320, 0, 0),
])
def test_paper_count_rule(budget, errors, expected):
    assert samples_per_error(budget, errors) == expected
