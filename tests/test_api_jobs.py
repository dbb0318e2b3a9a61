"""REST v2 job endpoints (jobs/api.py) over Job rows: read, list with filters and paging,
cancel and retry with their 403/404/409, in the design's shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import Job, JobCollection
from jobs.serializers import job_data
from tests.jobrows import job_clusters


def _job(project, status=Job.Status.PENDING, minutes_ago=0, **fields) -> Job:
    created = datetime(2026, 1, 1, 12, 0, tzinfo=UTC) - timedelta(minutes=minutes_ago)
    job = Job.objects.create(
        project=project,
        status=status,
        source_name="src",
        target_name="dst",
        created_at=created,
        **fields,
    )
    JobCollection.objects.create(
        job=job,
        source_db="default",
        source_name="docs",
        target_db="default",
        target_name="docs_v2",
        total_entities=100,
        migrated_entities=40,
        status=JobCollection.Status.FAILED if status == Job.Status.FAILED else "PENDING",
    )
    return job


def _error(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] != 0
    return body["message"]


def test_it_describes_a_job_in_the_designs_shape(owner, api_as, project):
    started = datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)
    job = _job(project, Job.Status.IN_PROGRESS, progress=40, started_at=started, created_by=owner)

    response = api_as(owner).get(f"/v2/jobs/{job.pk}")

    assert response.status_code == 200
    data = response.json()["data"]
    assert response.json()["code"] == 0
    assert data == job_data(job)
    assert {
        "jobId",
        "type",
        "status",
        "progress",
        "startTime",
        "endTime",
        "reason",
        "createdBy",
        "source",
        "destination",
        "collections",
    } <= set(data)
    assert (data["status"], data["progress"], data["type"]) == ("IN_PROGRESS", 40, "MIGRATION")
    assert (data["startTime"], data["endTime"]) == ("2026-01-01T12:00:05Z", None)
    assert data["createdBy"] == "owner@acme.test"
    assert data["collections"] == [
        {
            "sourceDb": "default",
            "sourceCollection": "docs",
            "targetDb": "default",
            "targetCollection": "docs_v2",
            "status": "PENDING",
            "totalEntities": 100,
            "migratedEntities": 40,
            "verifiedEntities": 0,
            "verification": "PENDING",
            "retrying": None,
            "phases": [],
            "verificationDetails": None,
        }
    ]


def test_it_gives_each_collections_phases_and_verification_details(owner, api_as, project):
    job = _job(project, Job.Status.FAILED, created_by=owner)
    JobCollection.objects.filter(job=job).update(
        status=JobCollection.Status.FAILED,
        verification=JobCollection.Verification.MISMATCH,
        phases={
            "VERIFYING": {"start": "2026-01-01T12:03:00+00:00"},
            "COPYING": {"start": "2026-01-01T12:01:00+00:00", "end": "2026-01-01T12:02:30+00:00"},
            "CREATING": {"start": "2026-01-01T12:00:58+00:00", "end": "2026-01-01T12:01:00+00:00"},
            "INDEXING": {
                "start": "2026-01-01T12:02:30+00:00",
                "end": "2026-01-01T13:03:00+01:00",  # another offset: written back in UTC
            },
        },
        report={
            "source_count": 100,
            "target_count": 100,
            "rows_compared": 100,
            "ranges_compared": 3,
            "ranges_differing": 2,
            "first_differing_keys": [7, 9_999],
            "source_changed": True,
            "mismatches": ["the source changed during the migration: …"],
        },
    )

    data = api_as(owner).get(f"/v2/jobs/{job.pk}").json()["data"]
    listed = api_as(owner).get("/v2/jobs").json()["data"]["records"][0]

    collection = data["collections"][0]
    assert collection["phases"] == [
        {
            "name": "Creating",
            "startTime": "2026-01-01T12:00:58Z",
            "endTime": "2026-01-01T12:01:00Z",
        },
        {"name": "Copying", "startTime": "2026-01-01T12:01:00Z", "endTime": "2026-01-01T12:02:30Z"},
        {
            "name": "Indexing",
            "startTime": "2026-01-01T12:02:30Z",
            "endTime": "2026-01-01T12:03:00Z",
        },
        {"name": "Verifying", "startTime": "2026-01-01T12:03:00Z", "endTime": None},
    ]
    assert collection["verificationDetails"] == {
        "rowsCompared": 100,
        "sourceCount": 100,
        "targetCount": 100,
        "rangesCompared": 3,
        "rangesDiffering": 2,
        "firstDifferingKeys": [7, 9_999],
        "sourceChanged": True,
    }
    assert collection["verification"] == "MISMATCH"  # the existing field keeps its meaning
    assert listed["collections"][0] == collection


def test_it_gives_rows_compared_of_a_report_made_before_every_row_was_compared(
    owner, api_as, project
):
    job = _job(project, Job.Status.SUCCESSFUL, created_by=owner)
    JobCollection.objects.filter(job=job).update(
        report={"source_count": 5, "target_count": 5, "sampled_rows": 5, "mismatches": []}
    )

    details = api_as(owner).get(f"/v2/jobs/{job.pk}").json()["data"]["collections"][0]

    assert details["verificationDetails"] == {
        "rowsCompared": 5,
        "sourceCount": 5,
        "targetCount": 5,
        "rangesCompared": 0,
        "rangesDiffering": 0,
        "firstDifferingKeys": [],
        "sourceChanged": None,
    }


def test_it_lets_a_read_only_member_watch(viewer, api_as, project):
    job = _job(project)

    assert api_as(viewer).get(f"/v2/jobs/{job.pk}").status_code == 200
    assert api_as(viewer).get("/v2/jobs").json()["data"]["count"] == 1


@pytest.mark.parametrize("action", ["", "/cancel", "/retry"])
def test_it_hides_another_organizations_job(outsider, api_as, project, action):
    job = _job(project, Job.Status.FAILED)
    api = api_as(outsider)

    response = (
        api.get(f"/v2/jobs/{job.pk}") if not action else api.post(f"/v2/jobs/{job.pk}{action}")
    )

    _error(response, 404)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED


def test_it_answers_404_for_an_unknown_job(owner, api_as):
    _error(api_as(owner).get("/v2/jobs/job-00000000000000000000"), 404)


def test_it_lists_jobs_newest_first_with_filters_and_paging(owner, api_as, project, other_project):
    pending = _job(project, Job.Status.PENDING, minutes_ago=1)
    failed = _job(project, Job.Status.FAILED, minutes_ago=2)
    done = _job(project, Job.Status.SUCCESSFUL, minutes_ago=3)
    elsewhere = _job(other_project, Job.Status.FAILED, minutes_ago=4)
    api = api_as(owner)

    everything = api.get("/v2/jobs").json()["data"]
    assert everything["count"] == 4
    assert (everything["currentPage"], everything["pageSize"]) == (1, 10)
    assert [r["jobId"] for r in everything["records"]] == [
        pending.pk,
        failed.pk,
        done.pk,
        elsewhere.pk,
    ]
    assert everything["records"][0] == job_data(pending)

    in_project = api.get("/v2/jobs", projectId=project.pk).json()["data"]
    assert [r["jobId"] for r in in_project["records"]] == [pending.pk, failed.pk, done.pk]

    failed_only = api.get("/v2/jobs", status="FAILED").json()["data"]
    assert [r["jobId"] for r in failed_only["records"]] == [failed.pk, elsewhere.pk]

    page2 = api.get("/v2/jobs", pageSize=2, currentPage=2).json()["data"]
    assert page2["count"] == 4 and (page2["currentPage"], page2["pageSize"]) == (2, 2)
    assert [r["jobId"] for r in page2["records"]] == [done.pk, elsewhere.pk]

    beyond = api.get("/v2/jobs", pageSize=2, currentPage=9).json()["data"]
    assert beyond["records"] == [] and beyond["count"] == 4


def test_it_lists_only_the_projects_a_member_sees(admin, outsider, api_as, project, other_project):
    mine = _job(project)
    _job(other_project)

    data = api_as(admin).get("/v2/jobs").json()["data"]

    assert [r["jobId"] for r in data["records"]] == [mine.pk]
    assert api_as(outsider).get("/v2/jobs").json()["data"]["count"] == 0
    _error(api_as(outsider).get("/v2/jobs", projectId=project.pk), 404)
    _error(api_as(admin).get("/v2/jobs", projectId=other_project.pk), 404)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "DONE"}, "status:"),
        ({"pageSize": 0}, "pageSize:"),
        ({"pageSize": 101}, "pageSize:"),
        ({"pageSize": "ten"}, "pageSize:"),
        ({"currentPage": 0}, "currentPage:"),
        ({"state": "FAILED"}, "state: is not a known field"),
    ],
)
def test_it_names_a_bad_query_parameter(owner, api_as, params, named):
    assert named in _error(api_as(owner).get("/v2/jobs", **params), 422)


@pytest.mark.parametrize("persona", ["owner", "admin"])
def test_it_cancels_a_pending_job(request, persona, api_as, project):
    job = _job(project)

    response = api_as(request.getfixturevalue(persona)).post(f"/v2/jobs/{job.pk}/cancel")

    assert response.json() == {"code": 0, "data": {"jobId": job.pk, "status": "CANCELED"}}
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED and job.ended_at is not None


def test_it_moves_a_running_job_to_canceling(owner, api_as, project):
    job = _job(project, Job.Status.IN_PROGRESS)
    JobCollection.objects.filter(job=job).update(status=JobCollection.Status.COPYING)

    response = api_as(owner).post(f"/v2/jobs/{job.pk}/cancel")

    assert response.json()["data"] == {"jobId": job.pk, "status": "CANCELING"}


@pytest.mark.parametrize("status", [*Job.FINAL_STATES, Job.Status.CANCELING])
def test_it_refuses_to_cancel_a_job_that_is_final_or_canceling(owner, api_as, project, status):
    job = _job(project, status)

    message = _error(api_as(owner).post(f"/v2/jobs/{job.pk}/cancel"), 409)

    assert job.pk in message
    job.refresh_from_db()
    assert job.status == status


def test_it_retries_a_failed_job(owner, api_as, project):
    job = _job(project, Job.Status.FAILED, reason="boom", **job_clusters(project))

    response = api_as(owner).post(f"/v2/jobs/{job.pk}/retry")

    assert response.json() == {"code": 0, "data": {"jobId": job.pk, "status": "PENDING"}}
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING and job.reason == ""
    assert job.collections.get().status == JobCollection.Status.PENDING


@pytest.mark.parametrize(
    "status",
    [s for s in Job.Status.values if s != Job.Status.FAILED],
)
def test_it_refuses_to_retry_a_job_that_did_not_fail(owner, api_as, project, status):
    job = _job(project, status)

    message = _error(api_as(owner).post(f"/v2/jobs/{job.pk}/retry"), 409)

    assert "only Failed jobs can be retried" in message


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_it_refuses_cancel_and_retry_to_a_read_only_member(viewer, api_as, project, action):
    job = _job(project, Job.Status.FAILED if action == "retry" else Job.Status.PENDING)

    message = _error(api_as(viewer).post(f"/v2/jobs/{job.pk}/{action}"), 403)

    assert "Project Admin" in message
    before = job.status
    job.refresh_from_db()
    assert job.status == before


def test_it_ignores_a_body_sent_to_cancel(owner, api_as, project):
    # cancel and retry take no body: whatever is sent is ignored, the state decides.
    job = _job(project)

    assert api_as(owner).post(f"/v2/jobs/{job.pk}/cancel", raw="{junk").status_code == 200


def test_it_answers_an_unexpected_failure_with_500_and_no_detail(owner, api_as, project, caplog):
    # A row the response schema does not allow (written by hand, never by the app) makes the
    # response fail validation: the client gets a plain 500, the log gets the traceback.
    job = _job(project)
    JobCollection.objects.filter(job=job).update(status="SOMETHING_ELSE")

    response = api_as(owner).get(f"/v2/jobs/{job.pk}")

    message = _error(response, 500)
    assert "Traceback" not in message and "SOMETHING_ELSE" not in message
    assert "Traceback" in caplog.text or "SOMETHING_ELSE" in caplog.text


def test_it_names_a_source_the_key_may_not_see_without_name_or_id(
    member, owner, api_as, project, other_project
):
    # The job is in `other_project`, which `member` watches; its source is in `project`.
    member.project_memberships.create(project=other_project, role="PROJECT_READ_ONLY")
    clusters = job_clusters(other_project, source_project=project)
    job = _job(
        other_project,
        Job.Status.FAILED,
        reason="1 of 1 collection(s) failed — default.docs: database x does not exist on the "
        "source (cluster src)",
        **clusters,
    )
    source_id = clusters["source_cluster"].pk

    described = api_as(member).get(f"/v2/jobs/{job.pk}").json()["data"]
    listed = api_as(member).get("/v2/jobs", projectId=other_project.pk).json()["data"]

    hidden = {"clusterName": "a cluster of another project", "dbName": "default"}
    assert described["source"] == hidden and listed["records"][0]["source"] == hidden
    assert "src" not in str(described) and source_id not in str(described)
    assert described["reason"].endswith("(a cluster of another project)")
    shown = api_as(owner).get(f"/v2/jobs/{job.pk}").json()["data"]["source"]
    assert shown == {"clusterId": source_id, "clusterName": "src", "dbName": "default"}
