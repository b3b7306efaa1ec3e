"""The scalar tags: ``$datetime``, ``$timedelta``, ``$int``... and their text forms.

:data:`ENCODERS` turns a value of each scalar type into its tagged object and raises
:exc:`ValueError` for a value that cannot be stored exactly (the codec adds the key path);
:data:`PARSERS` turns a tag's text back and raises :exc:`ValueError` for a text it refuses.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ("ENCODERS", "PARSERS")

_INT = re.compile(r"-?(?:(0x)[0-9a-fA-F]+|[0-9]+)")
#: An ISO text that ends in a UTC offset with a fraction of a second.
_SUB_SECOND = re.compile(r"[+-]\d\d:?\d\d:?\d\d[.,]\d+$")
#: What ``isoformat()`` writes, with any ``timespec``: the only spellings read, so that a file
#: loads the same on every Python (3.11's ``fromisoformat()`` also takes "Z", week dates and the
#: basic format, which 3.10's refuses).
_TIME = r"[0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{3}(?:[0-9]{3})?)?)?)?"
_OFFSET = r"(?:[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{6})?)?)?"
_ISO = {
    "date": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "time": re.compile(_TIME + _OFFSET),
    "datetime": re.compile(rf"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?:[T ]{_TIME}{_OFFSET})?"),
}


def _whole_second_offset(tz: tzinfo | None) -> None:
    # datetime.fromisoformat() (CPython's, before gh-152079) reads "+00:00:00.5" back as UTC:
    # such offsets are refused both ways (when read, from the text: see _iso).
    offset = tz.utcoffset(None) if type(tz) is timezone else None
    if offset is not None and offset % timedelta(seconds=1):
        raise ValueError("a UTC offset with a fraction of a second")


def _storable_offset(tz: tzinfo | None) -> None:
    try:
        _whole_second_offset(tz)
    except ValueError as exc:
        raise ValueError(f"cannot store {exc}") from None


def _format_datetime(value: datetime) -> dict[str, str]:
    tz = value.tzinfo
    _storable_offset(tz)
    if tz is None or type(tz) is timezone:
        return {"$datetime": value.isoformat()}
    if type(tz) is ZoneInfo and tz.key:
        return {"$datetime": f"{value.isoformat()}[{tz.key}]"}
    raise ValueError(
        f"cannot store a datetime with a {type(tz).__name__}; use zoneinfo or a fixed offset"
    )


def _format_time(value: time) -> dict[str, str]:
    if value.tzinfo is not None and type(value.tzinfo) is not timezone:
        raise ValueError(f"cannot store a time with a {type(value.tzinfo).__name__}")
    _storable_offset(value.tzinfo)
    return {"$time": value.isoformat()}


def _format_timedelta(value: timedelta) -> dict[str, str]:
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    return {"$timedelta": f"{sign}{seconds}.{fraction:06d}".rstrip("0").rstrip(".")}


def _iso(kind: str, text: str) -> str:
    if _SUB_SECOND.search(text):  # the offset read may be UTC instead (see above)
        raise ValueError("a UTC offset with a fraction of a second")
    if _ISO[kind].fullmatch(text) is None:
        raise ValueError(f"not a {kind} as isoformat() writes it")
    return text


def _parse_datetime(text: str) -> datetime:
    stamp, _, zone = text.partition("[")
    value = datetime.fromisoformat(_iso("datetime", stamp))
    if not zone:
        return value
    if not zone.endswith("]") or value.tzinfo is None:
        raise ValueError("a zone needs an offset and a closing ]")
    try:
        tz: tzinfo = ZoneInfo(zone[:-1])
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a tzdata folder
        raise ValueError(f"unknown time zone {zone[:-1]!r}") from exc
    local = value.replace(tzinfo=tz)
    if local.utcoffset() != value.utcoffset():  # the second of two ambiguous wall times
        local = local.replace(fold=1)
    if local.utcoffset() != value.utcoffset():  # the encoder writes the zone's own offset
        raise ValueError(f"the offset is not {zone[:-1]}'s at that time: which instant is meant?")
    return local


def _parse_time(text: str) -> time:
    return time.fromisoformat(_iso("time", text))


def _parse_timedelta(text: str) -> timedelta:
    amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError("not a finite number of seconds")
    if amount.adjusted() > 15:  # noqa: PLR2004 - timedelta ends below 10**14 s; don't build a huge int
        raise ValueError("longer than a timedelta can be")
    micros = amount.scaleb(6)
    if micros != micros.to_integral_value():
        raise ValueError("more precise than a microsecond")
    return timedelta(microseconds=int(micros))


def _parse_int(text: str) -> int:
    # int() also takes "+", spaces, "_" and the digits of every script ("٣" is 3): the encoder
    # writes none of them, and a value is read one way only.
    match = _INT.fullmatch(text)
    if match is None:
        raise ValueError("not an integer (an optional -, then ASCII digits or 0x and hex digits)")
    return int(text, 16) if match.group(1) else int(text)


def _parse_float(text: str) -> float:
    if text not in ("nan", "-nan", "inf", "-inf"):
        raise ValueError("expected nan, -nan, inf or -inf")
    return float(text)


def _parse_bytes(text: str) -> bytes:
    # Only what b64encode() writes: Python 3.13's decoder refuses excess padding that 3.11's
    # takes, and a file must load the same on every Python.
    value = base64.b64decode(text, validate=True)
    if base64.b64encode(value) != text.encode("ascii"):
        raise ValueError("not base64 as b64encode() writes it (canonical, padded)")
    return value


#: The tagged object of a value of each scalar type (exact types: subclasses are not these).
ENCODERS: dict[type, Callable[[Any], dict[str, str]]] = {
    bytes: lambda value: {"$bytes": base64.b64encode(value).decode("ascii")},
    datetime: _format_datetime,
    date: lambda value: {"$date": value.isoformat()},
    time: _format_time,
    timedelta: _format_timedelta,
    Decimal: lambda value: {"$decimal": str(value)},
    uuid.UUID: lambda value: {"$uuid": str(value)},
}
#: The parser of each scalar tag's text.
PARSERS: dict[str, Callable[[str], Any]] = {
    "$int": _parse_int,
    "$float": _parse_float,
    "$bytes": _parse_bytes,
    "$datetime": _parse_datetime,
    "$date": lambda text: date.fromisoformat(_iso("date", text)),
    "$time": _parse_time,
    "$timedelta": _parse_timedelta,
    "$decimal": Decimal,
    "$uuid": uuid.UUID,
}
