"""The login limit on an injected clock: ten free failures, then waits that double and expire."""

from __future__ import annotations

from edge.console.const import (ADDRESS_FREE_FAILURES, FAILURE_WINDOW_S, FREE_FAILURES,
                                LOCK_FIRST_S)
from edge.console.sessions import LoginLimiter
from edge.console.users import hash_password, verify_password


class Clock:
    """Seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ten_failures_lock_an_account_and_the_lock_doubles_then_expires() -> None:
    """Test that the tenth wrong password locks the name for LOCK_FIRST_S, the next failure
    after it for twice as long, and that a lock ends by itself."""
    clock = Clock()
    limiter = LoginLimiter(clock)
    for _n in range(FREE_FAILURES - 1):
        limiter.failed("user:a")
        assert limiter.wait_s("user:a") == 0
    limiter.failed("user:a")
    assert limiter.wait_s("user:a") == LOCK_FIRST_S
    assert limiter.wait_s("user:b") == 0  # other accounts are not affected
    clock.now += LOCK_FIRST_S
    assert limiter.wait_s("user:a") == 0
    limiter.failed("user:a")
    assert limiter.wait_s("user:a") == 2 * LOCK_FIRST_S


def test_old_failures_fall_out_of_the_window_and_success_forgets_them() -> None:
    """Test that failures older than the window no longer count, and a right password resets."""
    clock = Clock()
    limiter = LoginLimiter(clock)
    for _n in range(FREE_FAILURES - 1):
        limiter.failed("user:a")
    clock.now += FAILURE_WINDOW_S + 1
    limiter.failed("user:a")
    assert limiter.wait_s("user:a") == 0
    for _n in range(FREE_FAILURES - 2):
        limiter.failed("user:a")
    limiter.succeeded("user:a")
    limiter.failed("user:a")
    assert limiter.wait_s("user:a") == 0


def test_an_address_may_try_more_names_before_it_waits() -> None:
    """Test that a client address is locked only after ADDRESS_FREE_FAILURES failures."""
    limiter = LoginLimiter(Clock())
    for n in range(ADDRESS_FREE_FAILURES - 1):
        limiter.failed(f"user:{n}", "addr:10.0.0.5")
    assert limiter.wait_s("addr:10.0.0.5") == 0
    limiter.failed("user:last", "addr:10.0.0.5")
    assert limiter.wait_s("addr:10.0.0.5") > 0


def test_a_password_hash_is_salted_and_checked() -> None:
    """Test that two hashes of one password differ and each verifies only that password."""
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and "correct horse" not in first
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct horsf", first)
    assert not verify_password("x", "not-a-hash")
