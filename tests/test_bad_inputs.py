"""Every bad input of the catalogue in tests/bad_inputs.py gets a clear error: a ValueError,
TypeError, MemoryError or FloatingPointError (NonFiniteError) whose message names the argument
(most also give the value and what was expected). ``python tests/bad_inputs.py`` prints the
counts."""
import pytest

from bad_inputs import CASES, classify


@pytest.mark.parametrize("label,call,expected", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_gets_a_clear_error(label, call, expected):
    kind, what = classify(call, expected)
    assert kind == "clear", f"{label}: {kind}: {what} (expected a message matching {expected!r})"


def test_the_catalogue_is_broad():
    assert len(CASES) >= 130
    assert len({c[0] for c in CASES}) == len(CASES)          # each case once
