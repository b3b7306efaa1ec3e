"""The corners of the scalar tags that ``tests/test_codec.py`` leaves open.

Found by mutation testing (``tests/mutation/mutate.py jsonpersist/_scalars.py``): each test
here asserts what a user of a state file relies on (a value is written in one spelling and
comes back exactly; a value the encoder never writes is refused, saying why), where a small
slip in ``_scalars`` would otherwise go unnoticed.
"""

from __future__ import annotations

import time as clock
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from jsonpersist import Codec, CorruptStateError


def refused(tree: Any) -> CorruptStateError:
    """The error loading ``tree`` (as a file holds it) fails with, checked to name the tag."""
    with pytest.raises(CorruptStateError) as caught:
        Codec().loads(orjson.dumps(tree))
    [tag] = tree
    assert caught.value.where == f"value[{tag!r}]"
    return caught.value


# ----------------------------------------------------------------------------- $timedelta


@given(st.timedeltas())
@example(timedelta(0))
@example(timedelta(microseconds=1))
@example(timedelta(microseconds=-1))
@example(timedelta.max)
@example(timedelta.min)
def test_a_timedelta_is_its_exact_seconds_in_one_spelling(value: timedelta) -> None:
    text = Codec().encode(value)["$timedelta"]
    micros = value // timedelta(microseconds=1)
    assert Decimal(text) == Decimal(micros).scaleb(-6)
    # One spelling per value, so that equal values give identical bytes: no "-0", no
    # trailing zeros, no exponent.
    assert text.startswith("-") == (micros < 0)
    assert "e" not in text.lower()
    if "." in text:
        assert not text.endswith(("0", "."))
    assert Codec().loads(Codec().dumps(value)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0"),
        (timedelta(microseconds=1), "0.000001"),
        (timedelta(microseconds=-1), "-0.000001"),
        (timedelta(seconds=-1), "-1"),
    ],
)
def test_a_timedelta_near_zero_is_written_with_a_sign_only_when_negative(
    value: timedelta, text: str
) -> None:
    assert Codec().dumps(value) == b'{"$timedelta":"%b"}' % text.encode()


@pytest.mark.parametrize("text", ["1e16", "-1e16", "123456789012345678", "1e30", "9e999990"])
def test_a_timedelta_far_longer_than_python_holds_is_refused_as_such(text: str) -> None:
    error = refused({"$timedelta": text})
    assert "longer than a timedelta can be" in str(error)


def test_a_timedelta_with_a_huge_exponent_is_refused_at_once() -> None:
    # A few bytes of a hostile file must not stall loading: building the int of "9e999990"
    # microseconds (a million digits) alone took 26 s here.
    started = clock.process_time()
    refused({"$timedelta": "9e999990"})
    assert clock.process_time() - started < 1.0


# ------------------------------------------------------------------------ sub-second offsets


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T00:00:00+01:00:00.500000",
        "2024-01-01T00:00:00-05:30:00.000001",
        "2024-01-01T00:00:00+00:00:01.250000",
        "2024-01-01T00:00:00+00:00:01.250000[Europe/Berlin]",
    ],
)
def test_a_datetime_with_an_offset_of_a_fraction_of_a_second_is_refused(text: str) -> None:
    # The encoder never writes one; which instant was meant cannot be told (see the next test).
    error = refused({"$datetime": text})
    assert "a UTC offset with a fraction of a second" in str(error)


@pytest.mark.parametrize(
    "text", ["01:00:00+01:00:00.500000", "01:00-00:00:01.000250", "23:59:59.999999+14:00:00.1"]
)
def test_a_time_with_an_offset_of_a_fraction_of_a_second_is_refused(text: str) -> None:
    error = refused({"$time": text})
    assert "a UTC offset with a fraction of a second" in str(error)


@pytest.mark.parametrize(
    ("tag", "text"),
    [
        ("$datetime", "2024-01-01T00:00:00+00:00:00.500000"),
        ("$datetime", "2024-01-01T00:00:00-00:00:00.000001"),
        ("$datetime", "2024-01-01T00:00:00+00:00:00.999999[Europe/London]"),
        ("$time", "01:00:00+00:00:00.000250"),
    ],
)
def test_an_offset_of_less_than_a_second_is_refused_not_read_as_utc(tag: str, text: str) -> None:
    # Read as UTC, the value would be another instant than the file says, and the next save
    # would write it as "+00:00" without a word.
    error = refused({tag: text})
    assert "a UTC offset with a fraction of a second" in str(error)


# ------------------------------------------------------------------------------- zone names


@pytest.mark.parametrize("zone", ["Mars/Base", "Europe/Atlantis", "../../etc/passwd", "X"])
def test_an_unknown_zone_is_refused_naming_it(zone: str) -> None:
    error = refused({"$datetime": f"2024-01-01T00:00:00+01:00[{zone}]"})
    assert f"unknown time zone {zone!r}" in str(error)
