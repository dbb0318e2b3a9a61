"""A job's speed cap (issue 17, item 3): booked in the real Redis across every collection of the
job, followed by a real worker copying between Milvus Lite servers, changeable while the job
runs, and refused with a clear reason when it is not a cap."""

from __future__ import annotations

import math
import threading
import time
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs import pace
from jobs.models import Job
from jobs.pace import SpeedCap
from migrations_app import service
from tests.jobrows import make_job
from tests.jobs_support import count, fill, local_cluster, wait_for
from tests.wizard.helpers import schema_post, walk_current_to_schema

# --- the booking, in the real Redis ----------------------------------------------------------


def _job_id() -> str:
    return f"job-test-{uuid.uuid4().hex}"


def test_it_lets_one_seconds_worth_through_and_holds_the_next_for_a_second():
    job, cap = _job_id(), SpeedCap(rows_per_second=100)

    first = pace.book(job, cap, 100, 1, "a")
    second = pace.book(job, cap, 100, 1, "b")
    third = pace.book(job, cap, 50, 1, "c")

    assert first == 0.0
    assert 0.9 <= second <= 1.0
    assert 1.9 <= third <= 2.0  # the second's second is full: after it


def test_it_keeps_to_the_megabyte_cap_and_to_each_job_apart():
    job, other = _job_id(), _job_id()
    cap = SpeedCap(mb_per_second=1)

    assert pace.book(job, cap, 10, 600_000, "a") == 0.0
    assert 0.9 <= pace.book(job, cap, 10, 600_000, "b") <= 1.0
    assert pace.book(other, cap, 10, 600_000, "a") == 0.0


def test_a_batch_larger_than_a_second_goes_alone_and_holds_the_next():
    """A cap lowered while a run holds a larger batch: it is booked when the window is empty."""
    job, cap = _job_id(), SpeedCap(rows_per_second=100)

    assert pace.book(job, cap, 500, 1, "a") == 0.0
    assert 0.9 <= pace.book(job, cap, 10, 1, "b") <= 1.0


def test_two_runs_booking_at_once_never_share_the_same_room():
    job, cap = _job_id(), SpeedCap(rows_per_second=100)
    waits: list[float] = []
    start = threading.Barrier(20)

    def book(i: int) -> None:
        start.wait()
        waits.append(pace.book(job, cap, 10, 1, f"t{i}"))

    threads = [threading.Thread(target=book, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len([w for w in waits if w < 0.5]) == 10
    assert len([w for w in waits if 0.5 <= w <= 1.0]) == 10


def test_no_cap_books_nothing():
    assert pace.book(_job_id(), SpeedCap(), 10**9, 10**12, "a") == 0.0


@pytest.mark.parametrize(
    ("rows", "mb", "message"),
    [
        (0, None, "maxRowsPerSecond must be greater than 0 (leave it out for no cap)"),
        (-5, None, "maxRowsPerSecond must be greater than 0"),
        (None, 0, "maxMegabytesPerSecond must be greater than 0"),
        (None, -0.5, "maxMegabytesPerSecond must be greater than 0"),
        (1.5, None, "maxRowsPerSecond must be a whole number of rows"),
        (10**12, None, "maxRowsPerSecond must be at most 10,000,000"),
        (None, 10**9, "maxMegabytesPerSecond must be at most 100,000"),
        (None, math.nan, "maxMegabytesPerSecond must be greater than 0"),
        (None, math.inf, "maxMegabytesPerSecond must be at most 100,000"),
        (True, None, "maxRowsPerSecond must be a number"),
        ("500", None, "maxRowsPerSecond must be a number"),
    ],
)
def test_it_says_why_a_value_is_not_a_cap(rows, mb, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pace.check(rows, mb)


def test_it_describes_a_cap():
    assert SpeedCap(2000, 5).describe() == "2,000 rows/s and 5 MB/s"
    assert SpeedCap(None, 0.5).describe() == "0.5 MB/s"
    assert SpeedCap().describe() == "no cap"


# --- a real job under a cap ----------------------------------------------------------------

ROWS = 4_000
CAP, RAISED = 200, 5_000


@pytest.fixture
def clusters(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "big", ROWS)
    return (
        local_cluster(project, source_server, "src"),
        local_cluster(project, target_server, "dst"),
        target_server,
    )


def _watch(target_server, stop: threading.Event, seen: list) -> None:
    """The target's row count, every quarter second: a witness that is not the limiter."""
    while not stop.is_set():
        seen.append((time.monotonic(), max(count(target_server, "big"), 0)))
        time.sleep(0.25)


def test_a_real_copy_keeps_to_the_cap_and_follows_a_raise_while_it_runs(
    owner, clusters, job_worker, api_as
):
    source, target, target_server = clusters
    job = service.start_migration(
        owner,
        service.MigrationRequest(
            source_cluster_id=source.pk,
            target_cluster_id=target.pk,
            collections=[service.CollectionChoice("big")],
            max_rows_per_second=CAP,
        ),
    )
    seen: list[tuple[float, int]] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(target_server, stop, seen), daemon=True)
    watcher.start()
    try:
        wait_for(job, Job.Status.IN_PROGRESS, worker=job_worker)
        while not seen or seen[-1][1] == 0:
            time.sleep(0.05)
        time.sleep(6)
        capped = [s for s in seen if s[1] > 0]
        response = api_as(owner).post(f"/v2/jobs/{job.pk}/speedCap", {"maxRowsPerSecond": RAISED})
        raised_at, rows_at_raise = time.monotonic(), seen[-1][1]
        job = wait_for(job, *Job.FINAL_STATES, timeout=60, worker=job_worker)
        done_at = time.monotonic()
    finally:
        stop.set()
        watcher.join()

    assert response.status_code == 200, response.content
    assert response.json()["data"] == {
        "jobId": job.pk,
        "maxRowsPerSecond": RAISED,
        "maxMegabytesPerSecond": None,
    }
    assert job.status == Job.Status.SUCCESSFUL, job.reason
    assert count(target_server, "big") == ROWS
    # Capped: from the first rows seen to the raise, the cap's rate within 10%, give or take
    # the one batch (a second's worth) in flight at each end of the measurement.
    (t0, c0), (t1, c1) = capped[0], capped[-1]
    span = t1 - t0
    assert span >= 5
    assert c1 - c0 <= 1.1 * CAP * span + CAP, (c1 - c0, span)
    assert c1 - c0 >= 0.5 * CAP * span - CAP, (c1 - c0, span)  # capped, not stalled
    # Raised: the rest went much faster than the old cap allows.
    left = ROWS - rows_at_raise
    assert left > 1_000
    assert done_at - raised_at < 0.5 * left / CAP, (left, done_at - raised_at)
    logged = [e.message for e in job.events.all()]
    assert f"speed cap set to 5,000 rows/s by {owner.email}" in logged
    described = api_as(owner).get(f"/v2/jobs/{job.pk}").json()["data"]
    assert described["maxRowsPerSecond"] == RAISED and described["maxMegabytesPerSecond"] is None


# --- bad input and rights ------------------------------------------------------------------


def _error(response, status: int) -> str:
    assert response.status_code == status, response.content
    return response.json()["message"]


@pytest.fixture
def quiet_clusters(project, lite_factory):
    source_server, target_server = lite_factory(), lite_factory()
    fill(source_server, "docs", 5)
    return local_cluster(project, source_server, "src"), local_cluster(
        project, target_server, "dst"
    )


@pytest.mark.parametrize(
    ("cap", "status", "message"),
    [
        ({"maxRowsPerSecond": 0}, 400, "maxRowsPerSecond must be greater than 0"),
        ({"maxRowsPerSecond": -1}, 400, "maxRowsPerSecond must be greater than 0"),
        ({"maxMegabytesPerSecond": 1e9}, 400, "maxMegabytesPerSecond must be at most 100,000"),
        ({"maxRowsPerSecond": 2.5}, 400, "maxRowsPerSecond must be a whole number of rows"),
        ({"maxRowsPerSecond": "fast"}, 422, "maxRowsPerSecond"),
    ],
)
def test_the_api_refuses_a_bad_cap_and_creates_nothing(
    db, owner, api_as, quiet_clusters, cap, status, message
):
    source, target = quiet_clusters
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterId": target.pk},
        "dbCollections": [{"dbName": "default"}],
        **cap,
    }

    response = api_as(owner).post("/v2/migrations/toExisting", body)

    assert message in _error(response, status)
    assert not Job.objects.exists()


def test_the_api_keeps_the_cap_a_migration_starts_with(db, owner, api_as, quiet_clusters):
    source, target = quiet_clusters
    body = {
        "source": {"clusterId": source.pk},
        "destination": {"clusterId": target.pk},
        "dbCollections": [{"dbName": "default"}],
        "maxRowsPerSecond": 1000,
        "maxMegabytesPerSecond": 2.5,
    }

    response = api_as(owner).post("/v2/migrations/toExisting", body)

    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=response.json()["data"]["jobId"])
    assert (job.max_rows_per_second, job.max_mb_per_second) == (1000, 2.5)


@pytest.mark.parametrize("status", [Job.Status.SUCCESSFUL, Job.Status.FAILED, Job.Status.CANCELED])
def test_the_cap_of_a_finished_job_cannot_change(db, owner, api_as, project, status):
    job = make_job(project, owner, status=status)

    response = api_as(owner).post(f"/v2/jobs/{job.pk}/speedCap", {"maxRowsPerSecond": 10})

    assert "the speed cap of a job that has ended cannot change" in _error(response, 409)
    job.refresh_from_db()
    assert job.max_rows_per_second is None


def test_a_watcher_cannot_change_the_cap(db, viewer, api_as, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS)

    response = api_as(viewer).post(f"/v2/jobs/{job.pk}/speedCap", {"maxRowsPerSecond": 10})

    assert "change the speed cap of jobs" in _error(response, 403)
    job.refresh_from_db()
    assert job.max_rows_per_second is None


def test_the_api_refuses_a_bad_cap_change(db, owner, api_as, project):
    job = make_job(project, owner, status=Job.Status.IN_PROGRESS, max_rows_per_second=50)

    response = api_as(owner).post(f"/v2/jobs/{job.pk}/speedCap", {"maxRowsPerSecond": 0})

    assert "maxRowsPerSecond must be greater than 0" in _error(response, 400)
    job.refresh_from_db()
    assert job.max_rows_per_second == 50


def test_removing_the_cap_is_a_change_like_any_other(db, owner, api_as, project):
    job = make_job(project, owner, status=Job.Status.PENDING, max_rows_per_second=50)

    response = api_as(owner).post(f"/v2/jobs/{job.pk}/speedCap", {})

    assert response.status_code == 200, response.content
    job.refresh_from_db()
    assert job.max_rows_per_second is None
    assert job.events.filter(message=f"speed cap set to no cap by {owner.email}").exists()


# --- View Details, the wizard and the CLI --------------------------------------------------


def test_view_details_shows_the_cap_and_lets_a_manager_change_it(db, owner_client, owner, project):
    job = make_job(project, owner, status=Job.Status.IN_PROGRESS, max_rows_per_second=300)

    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "At most 300 rows/s, averaged over any 10 seconds" in page
    assert "Save Speed Cap" in page

    response = owner_client.post(
        f"/jobs/{job.pk}/speed-cap/", {"max_rows_per_second": "", "max_mb_per_second": "0.5"}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.max_rows_per_second, job.max_mb_per_second) == (None, 0.5)
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Speed cap of job" in page and "0.5 MB/s" in page


def test_view_details_answers_a_bad_cap_with_the_fields_message(db, owner_client, owner, project):
    job = make_job(project, owner, status=Job.Status.IN_PROGRESS, max_rows_per_second=300)

    owner_client.post(f"/jobs/{job.pk}/speed-cap/", {"max_rows_per_second": "0"})

    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Max rows per second: Ensure this value is greater than or equal to 1." in page
    job.refresh_from_db()
    assert job.max_rows_per_second == 300


def test_view_details_offers_no_cap_form_to_a_watcher(db, viewer_client, project):
    job = make_job(project, status=Job.Status.IN_PROGRESS, max_rows_per_second=300)

    page = viewer_client.get(f"/jobs/{job.pk}/").content.decode()

    assert "At most 300 rows/s" in page and "Save Speed Cap" not in page
    assert (
        viewer_client.post(f"/jobs/{job.pk}/speed-cap/", {"max_rows_per_second": "5"}).status_code
        == 403
    )


def test_the_wizard_takes_the_cap_in_configure_schema(db, owner_client, quiet_clusters):
    source, target = quiet_clusters
    base = walk_current_to_schema(owner_client, source, target, ["docs"])
    assert "Speed Cap" in owner_client.get(base + "schema/").content.decode()

    refused = owner_client.post(
        base + "schema/", schema_post("migrate", ["docs"], cap_max_rows_per_second="0")
    )
    assert refused.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in refused.content.decode()
    assert not Job.objects.exists()

    response = owner_client.post(
        base + "schema/",
        schema_post("migrate", ["docs"], cap_max_rows_per_second="1500", cap_max_mb_per_second="3"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get()
    assert (job.max_rows_per_second, job.max_mb_per_second) == (1500, 3.0)


def _start(*args: str) -> list[str]:
    out = StringIO()
    call_command("start_migration", *args, stdout=out)
    return out.getvalue().splitlines()


def test_the_cli_takes_the_cap_and_refuses_a_bad_one(db, owner, quiet_clusters):
    source, target = quiet_clusters
    common = ["--as", owner.email, "--source", source.pk, "--target", target.pk]

    with pytest.raises(CommandError, match="maxRowsPerSecond must be greater than 0"):
        _start(*common, "--max-rows-per-second", "0")
    with pytest.raises(CommandError, match="'lots' is not a number"):
        _start(*common, "--max-mb-per-second", "lots")
    assert not Job.objects.exists()

    job_id = _start(*common, "--max-rows-per-second", "250", "--max-mb-per-second", "1.5")[-1]
    job = Job.objects.get(pk=job_id)
    assert (job.max_rows_per_second, job.max_mb_per_second) == (250, 1.5)
