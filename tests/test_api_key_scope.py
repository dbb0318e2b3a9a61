"""API keys limited to one project (ApiKey.project): every /v2 endpoint that takes or lists
project-bound things answers 403, with the key's project in the message, outside it and works
inside it; the key is made by `create_api_key --project` or on the API Keys page."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from console.models import ApiKey, Cluster
from jobs.models import Job
from tests.conftest import ApiClient
from tests.jobs_support import fill, local_cluster

TO_EXISTING = "/v2/migrations/toExisting"
TO_NEW = "/v2/migrations/toNewDedicated"


def scoped(user, project) -> ApiClient:
    _, raw = ApiKey.issue(user, ApiKey.free_name(user, "scoped"), project=project)
    return ApiClient(raw)


def _job(project) -> Job:
    return Job.objects.create(project=project, source_name="src", target_name="dst")


def refusal(response, project, outside) -> None:
    assert response.status_code == 403, response.content
    assert response.json() == {
        "code": 403,
        "message": f"This API key is limited to project {project.name} ({project.pk}); "
        f"it cannot be used for project {outside.name} ({outside.pk}).",
    }


# --- jobs ---------------------------------------------------------------------------------


def test_it_describes_a_job_of_its_project_and_refuses_another_projects(
    owner, project, other_project
):
    inside, outside = _job(project), _job(other_project)
    api = scoped(owner, project)

    assert api.get(f"/v2/jobs/{inside.pk}").json()["data"]["jobId"] == inside.pk
    refusal(api.get(f"/v2/jobs/{outside.pk}"), project, other_project)


def test_it_lists_only_its_projects_jobs(owner, api_as, project, other_project):
    inside, _ = _job(project), _job(other_project)

    listed = scoped(owner, project).get("/v2/jobs").json()["data"]

    assert [r["jobId"] for r in listed["records"]] == [inside.pk] and listed["count"] == 1
    # The same user's unscoped key sees both.
    assert api_as(owner).get("/v2/jobs").json()["data"]["count"] == 2


def test_it_refuses_a_job_list_of_another_project(owner, project, other_project):
    api = scoped(owner, project)
    refusal(api.get("/v2/jobs", projectId=other_project.pk), project, other_project)
    assert api.get("/v2/jobs", projectId=project.pk).status_code == 200


def test_it_cancels_inside_its_project_only(owner, project, other_project):
    inside, outside = _job(project), _job(other_project)
    api = scoped(owner, project)

    refusal(api.post(f"/v2/jobs/{outside.pk}/cancel"), project, other_project)
    assert Job.objects.get(pk=outside.pk).status == Job.Status.PENDING
    response = api.post(f"/v2/jobs/{inside.pk}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == Job.Status.CANCELED


def test_it_refuses_a_retry_outside_its_project(owner, project, other_project):
    outside = _job(other_project)
    Job.objects.filter(pk=outside.pk).update(status=Job.Status.FAILED)
    refusal(scoped(owner, project).post(f"/v2/jobs/{outside.pk}/retry"), project, other_project)
    assert Job.objects.get(pk=outside.pk).status == Job.Status.FAILED


def test_it_still_answers_404_for_what_its_user_cannot_see(owner, outsider, project):
    foreign = outsider.memberships.get().organization.projects.get()
    response = scoped(owner, project).get(f"/v2/jobs/{_job(foreign).pk}")
    assert response.status_code == 404 and response.json()["message"] == "No such job"


# --- migrations ---------------------------------------------------------------------------


@pytest.fixture
def clusters(project, other_project, lite_factory):
    """A source and a target in `project`, and a target in `other_project`."""
    source_server = lite_factory()
    fill(source_server, "docs", 10)
    source = local_cluster(project, source_server, "src", plan=Cluster.Plan.SERVERLESS)
    target = local_cluster(project, lite_factory(), "dst")
    elsewhere = local_cluster(other_project, lite_factory(), "far")
    return source, target, elsewhere


def _body(source_id: str, **destination: str) -> dict:
    return {
        "source": {"clusterId": source_id},
        "destination": destination,
        "dbCollections": [{"collections": [{"collectionName": "docs"}]}],
    }


def test_it_migrates_inside_its_project(owner, project, clusters):
    source, target, _ = clusters
    response = scoped(owner, project).post(TO_EXISTING, _body(source.pk, clusterId=target.pk))
    assert response.status_code == 200, response.content
    assert Job.objects.get(pk=response.json()["data"]["jobId"]).project == project


def test_it_refuses_a_target_cluster_outside_its_project(owner, project, other_project, clusters):
    source, _, elsewhere = clusters
    api = scoped(owner, project)
    refusal(api.post(TO_EXISTING, _body(source.pk, clusterId=elsewhere.pk)), project, other_project)
    assert not Job.objects.exists()


def test_it_refuses_a_source_cluster_outside_its_project(owner, project, other_project, clusters):
    source, _, elsewhere = clusters
    api = scoped(owner, other_project)
    refusal(api.post(TO_EXISTING, _body(source.pk, clusterId=elsewhere.pk)), other_project, project)
    assert not Job.objects.exists()


def test_it_creates_a_new_cluster_only_in_its_project(owner, project, other_project, clusters):
    source = clusters[0]
    api = scoped(owner, project)
    refused = api.post(TO_NEW, _body(source.pk, clusterName="fresh", projectId=other_project.pk))
    refusal(refused, project, other_project)
    assert not Cluster.objects.filter(name="fresh").exists()

    response = api.post(TO_NEW, _body(source.pk, clusterName="fresh", projectId=project.pk))
    assert response.status_code == 200, response.content
    assert Cluster.objects.get(name="fresh").project == project


# --- making a scoped key ------------------------------------------------------------------


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


def test_the_command_makes_a_key_for_one_project(owner, project, other_project):
    lines = run("--email", owner.email, "--project", project.pk)
    assert lines[0] == f"API key 'CLI key' for {owner.email} in project {project.name} only " + (
        "(shown only once):"
    )
    key = ApiKey.objects.get(user=owner)
    assert key.project == project
    response = ApiClient(lines[-1]).get(f"/v2/jobs/{_job(other_project).pk}")
    refusal(response, project, other_project)


def test_the_command_refuses_a_project_the_user_is_no_member_of(viewer, other_project):
    with pytest.raises(
        CommandError, match=f"viewer@acme.test is no member of a project {other_project.pk}"
    ):
        run("--email", viewer.email, "--project", other_project.pk)
    assert not ApiKey.objects.exists()


def test_the_page_makes_a_key_for_one_project(viewer_client, viewer, project):
    response = viewer_client.post(reverse("api_keys"), {"name": "ci", "project": project.pk})
    assert response.status_code < 400
    page = viewer_client.get(reverse("api_keys")).content.decode()
    assert ApiKey.objects.get(user=viewer, name="ci").project == project
    assert re.search(r'<td data-label="Project">Default Project</td>', page)


def test_the_page_offers_only_the_users_projects(viewer_client, project, other_project):
    page = viewer_client.get(reverse("api_keys")).content.decode()
    assert '<option value="" selected>All my projects</option>' in page
    assert f'<option value="{project.pk}">Default Project (Acme)</option>' in page
    assert f'<option value="{other_project.pk}">' not in page


def test_the_page_refuses_a_project_the_user_is_no_member_of(viewer_client, other_project):
    response = viewer_client.post(reverse("api_keys"), {"name": "ci", "project": other_project.pk})
    assert response.status_code == 400
    assert "Select a valid choice. That choice is not one of the available choices." in (
        response.content.decode()
    )
    assert not ApiKey.objects.exists()


def test_a_key_goes_with_its_project(owner, project):
    scoped(owner, project)
    project.delete()
    assert not ApiKey.objects.exists()  # never left behind as a key for every project
