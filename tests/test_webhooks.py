"""Webhook delivery through the real cluster (conftest `gateway`: redis-server, a worker per
queue, the webhooks worker among them, the gateway; three attempts a second apart, each
within 5 s): every way a delivery can fail ends `failed` with its reason, and receivers
that hold their calls delay no other job."""

from __future__ import annotations

import time

import httpx
import pytest
from cluster import free_port, six_photos, submit, timed_job

PHOTOS = six_photos()
ONE = [PHOTOS[-3]]  # the coffee cup: a product, three stages


def webhook_state(gateway, job_id: str, key: str, timeout: float = 60) -> dict:
    """The job's webhook record once delivery has ended (delivered or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{gateway.url}/v1/jobs/{job_id}", headers={"X-API-Key": key}, timeout=30).json()
        state = job["webhook"]
        if state["status"] != "pending" or time.monotonic() > deadline:
            return state


@pytest.mark.parametrize(
    "case, attempts, words",
    [
        ("always-503", 3, "the receiver answered 503"),  # retried, then given up
        ("answers-404", 1, "the receiver answered 404"),  # retrying cannot help
        ("unreachable", 3, "could not reach the receiver"),
        ("too-slow", 3, "did not answer within 5 s (CATALOG_WEBHOOK_TIMEOUT_S)"),
    ],
)
def test_a_delivery_that_fails_ends_failed_with_the_reason(gateway, webhook_receiver, case, attempts, words):
    key, path = gateway.api_keys[0], f"/hooks/{case}"
    url = webhook_receiver.url + path
    if case == "always-503":
        webhook_receiver.failures[path] = [503] * 5
    elif case == "answers-404":
        webhook_receiver.failures[path] = [404]
    elif case == "unreachable":
        url = f"http://127.0.0.1:{free_port()}{path}"  # nothing listens there
    else:
        webhook_receiver.released.clear()
        webhook_receiver.delays[path] = 8  # past the 5 s each call has
    job_id = submit(gateway.url, key, ONE, webhook_url=url)
    state = webhook_state(gateway, job_id, key)
    assert state["status"] == "failed" and state["attempts"] == attempts, state
    assert words in state["error"], state


def test_slow_receivers_delay_no_other_job(gateway, webhook_receiver):
    """Five jobs of one key end with webhooks to receivers that hold every call; another
    key's six-photo job, sent while all five are held, takes about as long as it does with
    no webhook in flight (when the calls rode on the color worker, it waited for them)."""
    shop_a, shop_b = gateway.api_keys
    timed_job(gateway.url, shop_b, PHOTOS[:6])  # every worker warm
    alone = timed_job(gateway.url, shop_b, PHOTOS[:6])
    webhook_receiver.released.clear()
    webhook_receiver.delays["/hooks/held-"] = 120
    for n in range(5):
        submit(gateway.url, shop_a, ONE, webhook_url=f"{webhook_receiver.url}/hooks/held-{n}")
    deadline = time.monotonic() + 120
    while len([c for c in webhook_receiver.calls if c.path.startswith("/hooks/held-")]) < 5:
        assert time.monotonic() < deadline, "the five webhook calls never came"
        time.sleep(0.1)
    try:
        beside = timed_job(gateway.url, shop_b, PHOTOS[:6])
    finally:
        del webhook_receiver.delays["/hooks/held-"]
        webhook_receiver.released.set()
    print(f"six-photo job alone {alone:.1f} s, beside five held webhooks {beside:.1f} s ({beside / alone:.2f}x)")
    assert beside < alone * 1.5 + 3, (alone, beside)
