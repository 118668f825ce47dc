"""The demo's tasks: a small shop's background work, and its everyday failures.

Point a worker at them yourself::

    export CONVEYOR_URL=sqlite:///path/to/conveyor-demo.db
    conveyor worker conveyor.demo.tasks:app
    conveyor enqueue conveyor.demo.tasks:app send_welcome_email --args '[42, "ada@example.com"]'

Transient failures (a mail relay or payment gateway dropping a connection)
are retried with a short backoff and then succeed; permanent ones (a declined
card, a contact the CRM always rejects) end in the dead-letter set, where
``conveyor jobs list --state dead`` finds them and ``jobs retry`` replays them.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

from conveyor import Backoff, Conveyor
from conveyor.demo import DEFAULT_URL
from conveyor.demo._services import CallLog, FlakyService, calls_path, fraction

app = Conveyor(os.environ.get("CONVEYOR_URL") or DEFAULT_URL)

#: Short on purpose, so the demo's retries finish in seconds; real apps wait longer.
QUICK_RETRY = Backoff(base=0.2, cap=1.0)

_calls = CallLog(lambda: calls_path(app.url))
smtp_relay = FlakyService("smtp-relay", failure_rate=0.12, log=_calls)
image_origin = FlakyService("image-origin", failure_rate=0.08, log=_calls)
payment_gateway = FlakyService("payment-gateway", failure_rate=0.10, log=_calls)


class CardDeclined(Exception):
    """The bank said no: retrying will not change its mind."""


class CrmRejected(Exception):
    """The CRM refuses this record every time: only a person can fix it."""


def _work(seconds: float) -> None:
    """Stand-in for the I/O a real task waits on."""
    time.sleep(seconds)


@app.task(queue="mail", priority=5, max_attempts=5, backoff=QUICK_RETRY)
def send_welcome_email(user_id: int, email: str) -> dict[str, str]:
    """Mail a new user; the relay sometimes drops the connection, so retry."""
    _work(0.002)
    smtp_relay.call(user_id)
    return {"to": email, "message_id": f"<welcome.{user_id}@shop.example>"}


@app.task(queue="media", max_attempts=5, backoff=QUICK_RETRY)
async def render_thumbnail(image_id: int, width: int = 320) -> dict[str, Any]:
    """Fetch an upload from the origin and scale it; async, so many wait at once."""
    await asyncio.sleep(0.004)
    if image_origin.failures(image_id):
        await asyncio.to_thread(image_origin.call, image_id)
    return {"image_id": image_id, "url": f"https://cdn.shop.example/{image_id}/{width}w.webp"}


@app.task(queue="reports", priority=-5)
def build_report(account_id: int, month: str) -> dict[str, Any]:
    """Total a month of orders: a little real CPU work, low priority."""
    rng = random.Random(f"{account_id}:{month}")
    amounts = [rng.randint(100, 50_000) for _ in range(1_000)]
    return {
        "account_id": account_id,
        "month": month,
        "orders": len(amounts),
        "revenue_cents": sum(amounts),
        "largest_cents": max(amounts),
    }


@app.task(
    queue="billing",
    priority=10,
    max_attempts=5,
    backoff=QUICK_RETRY,
    no_retry_on=(CardDeclined,),
)
def charge_card(order_id: int, amount_cents: int, card: str) -> dict[str, Any]:
    """Charge an order. Gateway hiccups are retried; a declined card is final."""
    _work(0.003)
    if card.endswith("0002"):
        raise CardDeclined(f"card ending {card[-4:]} declined: insufficient funds")
    payment_gateway.call(order_id)
    return {"order_id": order_id, "charge": f"ch_{order_id:08d}", "amount_cents": amount_cents}


@app.task(max_attempts=3, backoff=QUICK_RETRY)
def sync_crm_contact(contact_id: int) -> str:
    """Push a contact to the CRM, which rejects a few records on every try."""
    _work(0.002)
    if fraction("crm-rejects", contact_id) < 0.01:
        raise CrmRejected(f"CRM returned 422 for contact {contact_id}: phone number is not E.164")
    return f"crm-{contact_id}"
