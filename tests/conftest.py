"""Shared fixtures: real Milvus Lite servers and a real Milvus standalone."""

from __future__ import annotations

import pytest

from tests.servers import start_lite_server, start_standalone


@pytest.fixture
def lite_factory(tmp_path_factory):
    """Start as many fresh Milvus Lite servers as a test needs; all stopped at teardown."""
    started = []

    def make():
        server = start_lite_server(tmp_path_factory.mktemp("lite"))
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def lite_server(lite_factory):
    return lite_factory()


@pytest.fixture(scope="session")
def standalone():
    """One Milvus 2.3 standalone with authorization on (root:Milvus) for the whole session."""
    server = start_standalone()
    yield server
    server.stop()


# --- Personas -------------------------------------------------------------------------------
# owner: Organization Owner of "Acme"; admin: Project Admin of Acme's default project;
# viewer: Read-Only member of it; writer: Read-Write member of it; member: in the organization
# without a role in any project; outsider: owner of another organization ("Globex").

PASSWORD = "correct-horse-battery"


@pytest.fixture
def org(db):
    from console.models import Organization

    return Organization.objects.create(name="Acme")


@pytest.fixture
def project(org):
    from console.models import Project

    return Project.objects.create(organization=org, name="Default Project")


@pytest.fixture
def other_project(org):
    from console.models import Project

    return Project.objects.create(organization=org, name="Analytics")


def _member(email, org, org_role, project=None, project_role=None):
    from console.models import Membership, ProjectMembership, User

    user = User.objects.create_user(email, PASSWORD)
    Membership.objects.create(user=user, organization=org, role=org_role)
    if project is not None:
        ProjectMembership.objects.create(user=user, project=project, role=project_role)
    return user


@pytest.fixture
def owner(org, project):
    from console.models import Membership

    return _member("owner@acme.test", org, Membership.Role.ORG_OWNER)


@pytest.fixture
def admin(org, project):
    from console.models import Membership, ProjectMembership

    return _member(
        "admin@acme.test",
        org,
        Membership.Role.ORG_MEMBER,
        project,
        ProjectMembership.Role.PROJECT_ADMIN,
    )


@pytest.fixture
def viewer(org, project):
    from console.models import Membership, ProjectMembership

    return _member(
        "viewer@acme.test",
        org,
        Membership.Role.ORG_MEMBER,
        project,
        ProjectMembership.Role.PROJECT_READ_ONLY,
    )


@pytest.fixture
def writer(org, project):
    from console.models import Membership, ProjectMembership

    return _member(
        "writer@acme.test",
        org,
        Membership.Role.ORG_MEMBER,
        project,
        ProjectMembership.Role.PROJECT_READ_WRITE,
    )


@pytest.fixture
def member(org, project):
    from console.models import Membership

    return _member("member@acme.test", org, Membership.Role.ORG_MEMBER)


@pytest.fixture
def outsider(db):
    from console.models import Membership, Organization, Project

    globex = Organization.objects.create(name="Globex")
    Project.objects.create(organization=globex, name="Default Project")
    return _member("outsider@globex.test", globex, Membership.Role.ORG_OWNER)


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner):
    return _client_for(owner)


@pytest.fixture
def project_admin_client(admin):
    return _client_for(admin)


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def writer_client(writer):
    return _client_for(writer)


@pytest.fixture
def member_client(member):
    return _client_for(member)


@pytest.fixture
def outsider_client(outsider):
    return _client_for(outsider)


# --- Jobs: a real Celery worker -------------------------------------------------------------


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Extra environment of the `job_worker` process (override in a module: small batches...)."""
    return {}


@pytest.fixture
def job_worker(transactional_db, tmp_path, worker_env):
    """A real Celery worker process on the test database and the test Redis; stopped at the
    end. Tests using it are transactional: the worker must see what they commit."""
    from tests.workers import Worker

    worker = Worker(tmp_path, worker_env)
    worker.start()
    yield worker
    worker.stop()
