"""Five-field cron expressions, evaluated in a time zone.

Fields are minute, hour, day of month, month and day of week, each ``*``, a
number, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of
those; months and weekdays also take names (``jan``, ``mon``), Sunday is 0 or
7, and ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly`` are
shorthands. When both day fields are restricted, a day matching either one
matches, as in every Unix cron.

Daylight saving time, for a schedule in a zone that has it: a wall-clock time
the spring change skips fires that much later (02:30 becomes 03:30), and a
wall-clock time the autumn change repeats fires once, at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: (name, lowest, highest, names) per field.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: n + 1 for n, name in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {name: n for n, name in enumerate(_DAYS)}),
)
#: How far ahead a search gives up: an expression such as ``0 0 30 2 *``
#: (30 February) never matches.
_HORIZON = timedelta(days=366 * 5)


def _parse_field(
    text: str, name: str, low: int, high: int, names: dict[str, int]
) -> frozenset[int]:
    def value(token: str) -> int:
        token = token.lower()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise ValueError(f"cron {name}: {token!r} is not a number or a name")
        number = int(token)
        if not low <= number <= high:
            raise ValueError(f"cron {name}: {number} is outside {low}-{high}")
        return number

    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"cron {name}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if span == "*":
            start, stop = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, stop = value(first), value(last)
            if start > stop:
                raise ValueError(f"cron {name}: range {span!r} runs backwards")
        else:
            start = value(span)
            stop = high if step_text else start
        values.update(range(start, stop + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed expression; `next_after` finds its fire times."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is "*"
    any_weekday: bool  # day of week is "*"

    @classmethod
    def parse(cls, expression: str) -> Cron:
        text = _ALIASES.get(expression.strip().lower(), expression)
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(
                f"cron expression {expression!r} needs 5 fields "
                "(minute hour day-of-month month day-of-week), or @daily and the like"
            )
        sets = [_parse_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(
            expression, sets[0], sets[1], sets[2], sets[3], weekdays,
            any_day=parts[2] == "*", any_weekday=parts[4] == "*",
        )  # fmt: skip

    def _day_matches(self, day: datetime) -> bool:
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def _next_wall(self, wall: datetime) -> datetime:
        """The first matching wall-clock minute at or after naive `wall`."""
        limit = wall + _HORIZON
        while wall < limit:
            if wall.month not in self.months:
                wall = (wall.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0)
            elif not self._day_matches(wall):
                wall = (wall + timedelta(days=1)).replace(hour=0, minute=0)
            elif wall.hour not in self.hours:
                wall = (wall + timedelta(hours=1)).replace(minute=0)
            elif wall.minute not in self.minutes:
                wall += timedelta(minutes=1)
            else:
                return wall
        raise ValueError(f"cron expression {self.expression!r} never matches")

    def next_after(self, instant: float, zone: ZoneInfo) -> float:
        """The first fire time strictly after `instant` (epoch seconds)."""
        wall = datetime.fromtimestamp(instant, zone).replace(tzinfo=None, second=0, microsecond=0)
        wall += timedelta(minutes=1)
        while True:
            wall = self._next_wall(wall)
            # fold=0: a skipped time takes the offset before the change (so it
            # fires later by the gap), a repeated time its first occurrence.
            fire = wall.replace(tzinfo=zone, fold=0).astimezone(UTC).timestamp()
            if fire > instant:
                return fire
            wall += timedelta(minutes=1)

    def latest_at_or_before(self, instant: float, zone: ZoneInfo, after: float) -> float | None:
        """The last fire time in ``(after, instant]``, or None if there is none."""
        window = 60.0
        while True:
            start = max(instant - window, after)
            try:
                fire = self.next_after(start, zone)
            except ValueError:
                return None
            if fire <= instant:
                while (following := self.next_after(fire, zone)) <= instant:
                    fire = following
                return fire
            if start == after or window > _HORIZON.total_seconds():
                return None
            window *= 2


def describe(cron: Cron) -> str | None:
    """Common shapes in words (``every 5 minutes``, ``at 03:00 every day``,
    ``at 09:00 on Mon-Fri``); None when words would be longer than the expression."""
    when = _time_words(sorted(cron.minutes), sorted(cron.hours))
    if when is None:
        return None
    frequent = when.startswith("every")
    if len(cron.months) == 1 and len(cron.days) == 1 and cron.any_weekday:
        [month], [day] = cron.months, cron.days
        return f"{when} on {_MONTHS[month - 1].capitalize()} {day}"
    days = _day_words(cron)
    if days is None:
        return None
    if not days and not frequent:
        days = "every day"
    months = "" if len(cron.months) == 12 else _list_words(sorted(cron.months), _MONTHS)
    if months is None:
        return None
    return " ".join(filter(None, [when, days, f"in {months}" if months else ""]))


def _time_words(minutes: list[int], hours: list[int]) -> str | None:
    every_hour = len(hours) == 24
    minute_step = _step(minutes, 0, 60)
    if every_hour and minute_step == 1:
        return "every minute"
    if every_hour and minute_step:
        return f"every {minute_step} minutes"
    if len(minutes) == 1:
        at = f":{minutes[0]:02d}"
        if every_hour:
            return "every hour" if minutes[0] == 0 else f"every hour at {at}"
        hour_step = _step(hours, 0, 24)
        if hour_step:
            return f"every {hour_step} hours" + (f" at {at}" if minutes[0] else "")
    if len(minutes) * len(hours) <= 4:
        times = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
        return "at " + _and(times)
    return None


def _day_words(cron: Cron) -> str | None:
    """``""`` for any day; None for a mix too long to say."""
    if cron.any_day and cron.any_weekday:
        return ""
    parts = []
    if not cron.any_weekday:
        weekdays = sorted(cron.weekdays)
        if len(weekdays) < 7:
            named = _list_words(weekdays, [d.capitalize() for d in _DAYS], offset=0)
            if named is None:
                return None
            parts.append(f"on {named}")
    if not cron.any_day:
        days = sorted(cron.days)
        if len(days) > 4:
            return None
        plural = "s" if len(days) > 1 else ""
        parts.append(f"on day{plural} {_and([str(d) for d in days])} of the month")
    return " or ".join(parts)


def _list_words(values: list[int], names: list[str], offset: int = 1) -> str | None:
    """``Mon-Fri`` for a run of three or more, else ``Mon, Wed and Fri``."""
    words = [names[v - offset].capitalize() for v in values]
    if len(values) >= 3 and values == list(range(values[0], values[-1] + 1)):
        return f"{words[0]}-{words[-1]}"
    return _and(words) if len(words) <= 4 else None


def _step(values: list[int], low: int, size: int) -> int | None:
    """n when `values` is exactly every n-th value from `low` (n dividing `size`)."""
    if len(values) < 2 or values[0] != low:
        return None
    step = values[1] - values[0]
    if size % step or values != list(range(low, low + size, step)):
        return None
    return step


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
