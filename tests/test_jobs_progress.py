"""jobs.progress: the percentage from the rows shown (copied and verified), the ETAs, and the
"retrying: …" line — the formatting every page and the API share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import Job, JobCollection
from jobs.progress import Figures, figures, job_percent, retry_state, retrying_text

C = JobCollection.Status
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _collection(status=C.COPYING, total=300_000, copied=0, verified=0, rate=0.0):
    return JobCollection(
        status=status,
        total_entities=total,
        migrated_entities=copied,
        verified_entities=verified,
        rows_per_s=rate,
    )


def test_it_counts_a_resumed_copy_in_the_percentage():
    # The case: after a Retry, 13,522 of 300,000 rows copied is not 0 %.
    found = figures(Job.Type.MIGRATION, [_collection(C.PENDING, copied=13_522)])

    assert (found.copied, found.verified, found.total) == (13_522, 0, 300_000)
    assert found.percent == 2  # 13,522 of 600,000 rows of work (copy + verification)


def test_it_gives_the_verification_its_half_of_a_migration():
    copied = _collection(C.VERIFYING, copied=300_000, verified=150_000, rate=5_000.0)

    found = figures(Job.Type.MIGRATION, [copied])

    assert found.percent == 75
    assert found.verify_rate == 5_000.0 and found.copy_rate == 0
    assert found.verify_eta == 30.0  # 150,000 rows left at 5,000 rows/s
    assert found.copy_eta is None


def test_it_judges_a_verify_again_by_its_verification_only():
    found = figures(Job.Type.VERIFICATION, [_collection(C.VERIFYING, verified=60_000)])

    assert found.percent == 20


def test_it_counts_a_done_collection_whole_and_never_says_100_before_the_end():
    done = _collection(C.DONE, total=10, copied=12, verified=0)  # the source grew meanwhile
    running = _collection(C.VERIFYING, total=10, copied=10, verified=10)

    found = figures(Job.Type.MIGRATION, [done, running])

    assert (found.copied, found.verified) == (20, 20)
    assert found.percent == 99
    job = Job(type=Job.Type.MIGRATION, status=Job.Status.IN_PROGRESS)
    assert job_percent(job, [done, running]) == 99
    job.status = Job.Status.SUCCESSFUL
    assert job_percent(job, [done, running]) == 100


def test_it_counts_empty_collections_by_how_many_are_done():
    found = figures(Job.Type.MIGRATION, [_collection(C.DONE, total=0), _collection(total=0)])

    assert found.percent == 50
    assert Figures(0, 0, 0, 0, 0, 0, 0).percent == 0


def test_it_gives_a_copy_eta_from_the_copying_collections_rate():
    found = figures(Job.Type.MIGRATION, [_collection(copied=100_000, rate=2_000.0)])

    assert found.copy_eta == 100.0


@pytest.mark.parametrize(
    ("delay", "now", "said"),
    [
        (4.0, NOW, "next in 4 s"),
        (0.5, NOW, "next in 1 s"),  # rounded up: never "next in 0 s" before it is due
        (2.0, NOW + timedelta(seconds=10), "next in 0 s"),  # overdue
    ],
)
def test_it_says_what_is_retried_and_when(delay, now, said):
    state = retry_state(
        "source", "reading 'big' on the source: UNAVAILABLE: down", 3, 8, delay, NOW
    )

    assert retrying_text(state, now) == (
        f"retrying: reading 'big' on the source: UNAVAILABLE: down (attempt 3 of 8, {said})"
    )


def test_it_says_nothing_when_nothing_is_retried():
    assert retrying_text(None, NOW) == ""


def test_it_keeps_a_long_reason_short():
    state = retry_state("target", "x" * 1000, 1, 8, 1.0, NOW)

    assert len(state["reason"]) == 300
