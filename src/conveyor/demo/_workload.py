"""The demo's jobs: a deterministic mix of tasks, priorities and delays."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conveyor.task import Task

#: Share of each task in the mix.
MIX = {
    "send_welcome_email": 0.30,
    "render_thumbnail": 0.30,
    "charge_card": 0.20,
    "sync_crm_contact": 0.12,
    "build_report": 0.08,
}
#: Share of jobs delayed, and the longest delay (seconds).
DELAYED, MAX_DELAY = 0.20, 3.0
#: Share of jobs bumped above their task's priority (a VIP customer).
BUMPED, BUMP = 0.10, 3
#: Share of charges made with a card the bank declines.
DECLINED = 0.02

GOOD_CARD, BAD_CARD = "4242424242424242", "4000000000000002"


@dataclass(slots=True)
class Batch:
    """Jobs of one task sharing priority and delay: one `enqueue_many` call."""

    task: Task[Any, Any]
    priority: int
    delay: float
    calls: list[list[Any]] = field(default_factory=list)


def arguments(name: str, n: int, rng: random.Random) -> list[Any]:
    if name == "send_welcome_email":
        return [n, f"user{n}@example.com"]
    if name == "render_thumbnail":
        return [n, rng.choice((160, 320, 640))]
    if name == "charge_card":
        card = BAD_CARD if rng.random() < DECLINED else GOOD_CARD
        return [n, rng.randint(500, 25_000), card]
    if name == "sync_crm_contact":
        return [n]
    return [n % 97, f"2026-{rng.randint(1, 12):02d}"]


def plan(tasks: dict[str, Task[Any, Any]], jobs: int, seed: int = 7) -> list[Batch]:
    """`jobs` calls spread over the mix, grouped for bulk enqueue.

    Delays are rounded to quarter seconds so the groups stay few and each
    bulk insert stays large.
    """
    rng = random.Random(seed)
    names, weights = list(MIX), list(MIX.values())
    batches: dict[tuple[str, int, float], Batch] = {}
    for n in range(1, jobs + 1):
        name = rng.choices(names, weights)[0]
        task = tasks[name]
        priority = task.default_options.priority + (BUMP if rng.random() < BUMPED else 0)
        delay = round(rng.uniform(0.25, MAX_DELAY) * 4) / 4 if rng.random() < DELAYED else 0.0
        key = (name, priority, delay)
        if key not in batches:
            batches[key] = Batch(task, priority, delay)
        batches[key].calls.append(arguments(name, n, rng))
    return sorted(batches.values(), key=lambda b: (b.delay, -b.priority, b.task.name))


def slices(batches: list[Batch], size: int) -> Iterator[tuple[Batch, list[list[Any]]]]:
    """Each batch cut into pieces of at most `size` calls, so progress moves smoothly."""
    for batch in batches:
        for start in range(0, len(batch.calls), size):
            yield batch, batch.calls[start : start + size]
