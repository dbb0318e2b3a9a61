"""Shared fixtures: real Milvus Lite servers and a real Milvus standalone."""

from __future__ import annotations

import sys

import pytest

from tests.lite_pool import LitePool
from tests.milvus_versions import INSTALLED
from tests.servers import StandaloneHost, start_lite_server

# --- Markers, from the fixtures a test uses ---------------------------------------------------
# Applied here so that no test can forget one. item.fixturenames is the whole closure, so a test
# reaching `standalone` through another fixture (`milvus_user`, `filled`...) is marked too.
#
# - standalone: uses the Milvus standalone (`-m "not standalone"` deselects every such test).
# - e2e: drives Chromium.
# - database: touches the database (pytest-django's django_db mark or one of its db fixtures).
# - provisioning: runs local cluster servers from a private CLUSTERS_DIR (`clusters_dir`: the
#   seed and supervisor tests).
#
# The PostgreSQL pass (scripts/test.sh) runs `database and not e2e and not standalone and not
# provisioning`. The rule: a test runs again on PostgreSQL when what it proves goes through
# queries whose result could differ there (jsonb key order, select_for_update and conditional
# updates, ordering, transactions seen by another process): every view, service, API, CLI,
# lifecycle and job test. It does not when its database use is plain row create/read by primary
# key around what it really proves, which another test already proves on PostgreSQL:
# - e2e: the browser proves the pages' JavaScript and layout; the views behind them have
#   Django-client tests that run on PostgreSQL.
# - standalone: proves talking to Milvus 2.3 with authentication; the same views, services and
#   job runs are proven on PostgreSQL against Milvus Lite.
# - provisioning: proves processes, ports, pid files and data directories; its rows are created
#   and updated by primary key only.
# Tests that touch no database (engine, settings, scripts) have nothing to prove there.
DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}
BROWSER_FIXTURES = {"browser_page"}
PROVISIONING_FIXTURES = {"clusters_dir"}


STANDALONE_FIXTURES = {"standalone", "standalone_host"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns xdist_group marks into groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The version matrix (tests asking `standalone_host` for a release of their own) runs after
    # every test of the session's 2.3.5 standalone: it stops that one to start the others.
    items.sort(
        key=lambda item: (
            "standalone_host" in getattr(item, "fixturenames", ())
            and "standalone" not in item.fixturenames
        )
    )
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & STANDALONE_FIXTURES:
            item.add_marker(pytest.mark.standalone)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.e2e)
        # For pytest-xdist's `--dist loadgroup`: the standalone tests on two test processes, each
        # with a standalone of its own (the engine's, with the version matrix, and the console's),
        # the browser tests on one (one Chromium). Checked below.
        if used & STANDALONE_FIXTURES:
            engine = item.path.parent.name == "engine"
            item.add_marker(pytest.mark.xdist_group("standalone" if engine else "standalone-jobs"))
        elif used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.xdist_group("browser"))
        if used & PROVISIONING_FIXTURES:
            item.add_marker(pytest.mark.provisioning)
        if used & DATABASE_FIXTURES or item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.database)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Fail the run when `--dist loadgroup` did not group the marked tests. pytest-xdist 3.8 groups
    by appending "@group" to `item._nodeid`, which pytest 9.2 no longer reads (hence the pin in
    pyproject.toml); a silent loss would cost minutes of lock waits, not a failure."""
    if not session.config.getoption("loadgroup", default=False):
        return
    for item in session.items:
        marker = item.get_closest_marker("xdist_group")
        if marker and not item.nodeid.endswith(f"@{marker.args[0]}"):
            problem = (
                f"pytest-xdist did not group {item.nodeid} ({marker.args[0]}): this pytest and "
                "pytest-xdist do not work together (pyproject.toml)"
            )
            # A test process's own error reaches the run only as "worker crashed": say it here.
            sys.stderr.write(problem + "\n")
            raise pytest.UsageError(problem)


@pytest.fixture(scope="session")
def lite_pool(tmp_path_factory):
    """The session's Milvus Lite servers, each wiped before a test takes it (tests/lite_pool.py)."""
    pool = LitePool(tmp_path_factory.mktemp("lite-pool"))
    yield pool
    pool.close()


@pytest.fixture
def lite_factory(lite_pool):
    """As many empty Milvus Lite servers as a test needs, from the session's pool. They cannot be
    stopped; one stopped, frozen or killed anyway fails the test and is replaced."""
    taken = []

    def take():
        server = lite_pool.acquire()
        taken.append(server)
        return server

    yield take
    broken = []
    for server in taken:
        try:
            lite_pool.release(server)
        except AssertionError as error:
            broken.append(str(error))
    assert not broken, "\n".join(broken)


@pytest.fixture
def lite_server(lite_factory):
    return lite_factory()


@pytest.fixture
def fresh_lite_factory(tmp_path_factory):
    """Fresh Milvus Lite servers of the test's own, for a test that stops, freezes (SIGSTOP),
    kills or restarts one; all stopped at teardown."""
    started = []

    def make():
        server = start_lite_server(tmp_path_factory.mktemp("lite"))
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


# Every way to write "this machine" that a typed endpoint might use to reach a local cluster;
# "{port}" is the local cluster's port.
SPELLINGS_OF_THIS_HOST = [
    "http://127.0.0.1:{port}",
    "http://127.9.8.7:{port}",
    "http://localhost:{port}",
    "http://0.0.0.0:{port}",
    "http://0:{port}",
    "http://[::1]:{port}",
    "http://[::]:{port}",
    "http://[::ffff:127.0.0.1]:{port}",
    "http://[::ffff:7f00:1]:{port}",
    "http://[64:ff9b::127.0.0.1]:{port}",
    "http://2130706433:{port}",
    "http://0x7f000001:{port}",
    "http://0x7f.0.0.1:{port}",
    "http://0177.0.0.1:{port}",
    "http://127.1:{port}",
    "tcp://LOCALHOST:{port}",
    "https://127.0.0.1:{port}",
]


class Resolver:
    """A real stand-in for DNS (console.clients.resolve_host): each name answers from its
    list, one entry per lookup, the last one repeating; `lookups` counts them."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answers = self.answers[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def resolver(monkeypatch):
    from console import clients

    fake = Resolver()
    original = clients.resolve_host

    def resolve(host: str, port: int) -> list[str]:
        return fake(host, port) if host in fake.answers else original(host, port)

    monkeypatch.setattr(clients, "resolve_host", resolve)
    return fake


@pytest.fixture
def local_cluster(project, lite_server):
    """Acme's local cluster: a real Milvus Lite (no authentication) holding a "payroll"
    collection that no other organization may read."""
    from console.models import Cluster
    from tests.milvus import MilvusClient

    milvus = MilvusClient(uri=lite_server.uri)
    milvus.create_collection("payroll", dimension=4)
    milvus.close()
    return Cluster.objects.create(
        project=project,
        name="acme-local",
        plan="DEDICATED",
        kind=Cluster.Kind.LOCAL,
        uri=lite_server.uri,
        port=lite_server.port,
        status=Cluster.Status.RUNNING,
    )


@pytest.fixture(scope="session")
def standalone_host():
    """The test process's one standalone at a time (tests/servers.py), any version."""
    host = StandaloneHost()
    yield host
    host.close()


@pytest.fixture(scope="session")
def standalone(standalone_host):
    """One Milvus 2.3.5 standalone with authorization on (root:Milvus) for the whole session
    (the version matrix, which stops it for other versions, runs after every other test)."""
    return standalone_host.run(INSTALLED)


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
def attacker(org, project, other_project):
    """Read-Only in `project` (S) and Project Admin of `other_project` (T): may watch S's
    clusters, may not take their data into T (issue 15)."""
    from console.models import Membership, ProjectMembership

    user = _member(
        "attacker@acme.test",
        org,
        Membership.Role.ORG_MEMBER,
        project,
        ProjectMembership.Role.PROJECT_READ_ONLY,
    )
    ProjectMembership.objects.create(
        user=user, project=other_project, role=ProjectMembership.Role.PROJECT_ADMIN
    )
    return user


@pytest.fixture
def globex_project(outsider):
    from console.models import Project

    return Project.objects.get(organization__name="Globex")


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
def attacker_client(attacker):
    return _client_for(attacker)


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


@pytest.fixture(scope="session", autouse=True)
def _session_job_queue():
    """Jobs sent by this session (and the processes it starts) go to a queue of its own."""
    from tests.workers import use_session_queue

    use_session_queue()


_SERVED = {"job_worker", "own_worker", "_worker_pool"}


@pytest.fixture(autouse=True)
def _unserved_jobs(request):
    """A test without a worker sends its jobs to a queue no worker reads, dropped at its end:
    the session's worker, left running by an earlier test of this process, must not pick them
    up and run them while the test's database is flushed under it."""
    names = set(request.fixturenames)
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & names
    if not uses_db or _SERVED & names:
        yield
        return
    from tests.workers import unserved_queue

    with unserved_queue():
        yield


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Extra environment of the worker (override in a module: small batches...)."""
    return {}


@pytest.fixture(scope="session")
def _worker_pool(django_db_setup, django_db_blocker, tmp_path_factory):
    """The session's Celery worker, on the test database (set up before it starts, dropped
    after it stops) and the test Redis."""
    from tests.workers import WorkerPool

    pool = WorkerPool(tmp_path_factory.mktemp("workers"))
    yield pool
    pool.close()


@pytest.fixture
def job_worker(transactional_db, _worker_pool, worker_env):
    """The session's real Celery worker, idle and with an empty queue at the start of the test
    and left so at its end. Tests using it are transactional: the worker must see what they
    commit. `job_worker.paused()` holds jobs PENDING; `job_worker.logs()` is this test's log."""
    from tests.workers import drop_held_jobs

    yield _worker_pool.serve(worker_env)
    drop_held_jobs()
    _worker_pool.settle()


@pytest.fixture
def own_worker(transactional_db, _worker_pool, tmp_path, worker_env):
    """A worker process of the test's own, to kill or restart; the session's worker takes no
    job meanwhile. Stopped at the end."""
    from tests.workers import Worker

    with _worker_pool.paused():
        worker = Worker(tmp_path, worker_env)
        worker.start()
        yield worker
        worker.stop()


# --- REST API v2: a client per persona, authenticated by a real API key -----------------------


class ApiClient:
    """Django's test client speaking to /v2/ with `Authorization: Bearer <key>` (no session)."""

    def __init__(self, raw_key: str | None) -> None:
        from django.test import Client

        self.key = raw_key
        # enforce_csrf_checks: the API must work without a CSRF token, as scripts call it.
        self.client = Client(enforce_csrf_checks=True)

    def _headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.key}"} if self.key else {}

    def get(self, path: str, **params):
        return self.client.get(path, params, **self._headers())

    def post(self, path: str, body=None, *, raw: bytes | str | None = None):
        import json

        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(path, data, content_type="application/json", **self._headers())


@pytest.fixture
def api_as(db):
    """`api_as(user)`: an ApiClient with a new API key of that user."""
    from console.models import ApiKey

    def make(user) -> ApiClient:
        _, raw = ApiKey.issue(user, ApiKey.free_name(user, "tests"))
        return ApiClient(raw)

    return make
