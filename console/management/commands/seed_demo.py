"""manage.py seed_demo — the demo organization, its users and three local clusters with data.

Idempotent: running it again resets the demo passwords (with DEBUG on, or with --force: the
passwords are published in README.md, so resetting them on a real deployment would hand its
demo accounts to anyone), keeps every row and collection that is already right and reloads only a collection whose entity count is wrong (e.g. an interrupted
seed). The data is generated from a fixed seed, so every machine gets the same rows.

Loading needs each cluster's Milvus Lite server. When the cluster supervisor (`runclusters`)
already serves it, the seed writes through that server; otherwise it starts a temporary server
on the cluster's own port and data directory, loads, and stops it again, leaving the cluster for
the supervisor to start (the rows stay in the data directory).
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from console import services
from console.clusters import lite_process, provisioner
from console.models import Cluster, Membership, Organization, Project, ProjectMembership, User

ORG_NAME = "Demo Org"
PROJECTS = ("Default Project", "Analytics")
SEED = 20240611

# email -> (password, organization role, role in "Default Project" or None). The passwords are
# documented in README.md; they only ever protect a local demo.
USERS = {
    "owner@demo.local": ("demo-owner-pass", Membership.Role.ORG_OWNER, None),
    "admin@demo.local": (
        "demo-admin-pass",
        Membership.Role.ORG_MEMBER,
        ProjectMembership.Role.PROJECT_ADMIN,
    ),
    "viewer@demo.local": (
        "demo-viewer-pass",
        Membership.Role.ORG_MEMBER,
        ProjectMembership.Role.PROJECT_READ_ONLY,
    ),
}

CATEGORIES = ("science", "technology", "health", "business", "sports", "culture")
WORDS = (
    "quantum",
    "market",
    "vaccine",
    "league",
    "festival",
    "battery",
    "climate",
    "startup",
    "genome",
    "stadium",
    "museum",
    "satellite",
    "robotics",
    "inflation",
    "marathon",
    "gallery",
    "neural",
    "supply",
    "therapy",
    "championship",
    "novel",
    "solar",
    "merger",
    "protein",
    "transfer",
    "orchestra",
    "chip",
    "rates",
    "sleep",
    "record",
    "film",
    "ocean",
)
PRODUCT_CATEGORIES = ("laptops", "phones", "audio", "cameras", "kitchen", "garden", "toys", "books")
ADJECTIVES = ("Compact", "Pro", "Ultra", "Classic", "Smart", "Eco", "Wireless", "Deluxe")
TAGS = ("new", "bestseller", "refurbished", "eco", "gift", "limited", "bundle", "sale")


@dataclass
class CollectionSpec:
    """One demo collection: how to create it and how to make its rows."""

    db: str
    name: str
    rows: int
    build: Any  # (MilvusClient, CollectionSpec) -> None: creates the collection
    make_rows: Any  # (np.random.Generator, int) -> list[dict]
    partitions: tuple[str, ...] = ()
    partition_of: Any = None  # row -> partition name, for explicit partitions


# --- generated data ------------------------------------------------------------------------


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _clustered_vectors(rng: np.random.Generator, labels: np.ndarray, dim: int) -> np.ndarray:
    """Vectors grouped around one centre per label, so a search by example finds its kind."""
    centres = rng.standard_normal((labels.max() + 1, dim), dtype=np.float32)
    noise = rng.standard_normal((len(labels), dim), dtype=np.float32) * 0.6
    return _unit(centres[labels] + noise).astype(np.float32)


def _articles(rng: np.random.Generator, n: int) -> list[dict]:
    labels = rng.integers(0, len(CATEGORIES), n)
    vectors = _clustered_vectors(rng, labels, 384)
    words = rng.integers(0, len(WORDS), (n, 4))
    published = rng.integers(1_546_300_800, 1_735_689_600, n)  # 2019-01-01 .. 2025-01-01
    return [
        {
            "id": i + 1,
            "embedding": vectors[i].tolist(),
            "title": " ".join(WORDS[w] for w in words[i]).capitalize() + f" ({i + 1})",
            "category": CATEGORIES[labels[i]],
            "published": int(published[i]),
        }
        for i in range(n)
    ]


def _keywords(rng: np.random.Generator, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        terms = rng.choice(30_000, size=int(rng.integers(4, 24)), replace=False)
        weights = rng.random(len(terms)).astype(np.float32) + 0.05
        rows.append(
            {
                "id": i + 1,
                "text": " ".join(WORDS[t % len(WORDS)] for t in terms[:8]),
                "sparse_embedding": {int(t): float(w) for t, w in zip(terms, weights, strict=True)},
            }
        )
    return rows


def _products(rng: np.random.Generator, n: int) -> list[dict]:
    labels = rng.integers(0, len(PRODUCT_CATEGORIES), n)
    vectors = _clustered_vectors(rng, labels, 128)
    prices = np.round(rng.gamma(2.0, 60.0, n) + 4.99, 2)
    rows = []
    for i in range(n):
        row = {
            "sku": f"SKU-{i + 1:06d}",
            "category": PRODUCT_CATEGORIES[labels[i]],
            "name": f"{ADJECTIVES[i % len(ADJECTIVES)]} {PRODUCT_CATEGORIES[labels[i]][:-1]} {i + 1}",
            "embedding": vectors[i].tolist(),
            # Dynamic fields, as a shop's import would send them: not every row has every key.
            "price": float(prices[i]),
            "tags": [
                TAGS[t] for t in rng.choice(len(TAGS), int(rng.integers(0, 4)), replace=False)
            ],
        }
        if i % 3 == 0:
            row["in_stock"] = bool(rng.random() < 0.8)
        rows.append(row)
    return rows


def _reviews(rng: np.random.Generator, n: int) -> list[dict]:
    vectors = _unit(rng.standard_normal((n, 64), dtype=np.float32)).astype(np.float32)
    ratings = rng.integers(1, 6, n)
    years = rng.integers(2024, 2026, n)
    return [
        {
            "sku": f"SKU-{int(rng.integers(1, 4001)):06d}",
            "rating": int(ratings[i]),
            "year": int(years[i]),
            "body": f"{'★' * int(ratings[i])} {WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]}",
            "embedding": vectors[i].tolist(),
        }
        for i in range(n)
    ]


def _faq(rng: np.random.Generator, n: int) -> list[dict]:
    vectors = _unit(rng.standard_normal((n, 128), dtype=np.float32)).astype(np.float32)
    return [
        {
            "id": i + 1,
            "question": f"How do I {WORDS[i % len(WORDS)]} the {WORDS[(i * 5) % len(WORDS)]}? #{i + 1}",
            "vector": vectors[i].tolist(),
        }
        for i in range(n)
    ]


# --- schemas -------------------------------------------------------------------------------


def _build_articles(client: MilvusClient, spec: CollectionSpec) -> None:
    schema = MilvusClient.create_schema(
        auto_id=False,
        enable_dynamic_field=False,
        description="News articles with MiniLM-sized embeddings",
    )
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=384)
    schema.add_field("title", DataType.VARCHAR, max_length=512)
    schema.add_field("category", DataType.VARCHAR, max_length=64)
    schema.add_field("published", DataType.INT64)
    index = client.prepare_index_params()
    index.add_index(
        "embedding",
        index_type="HNSW",
        metric_type="COSINE",
        params={"M": 16, "efConstruction": 200},
    )
    client.create_collection(spec.name, schema=schema, index_params=index)


def _build_keywords(client: MilvusClient, spec: CollectionSpec) -> None:
    schema = MilvusClient.create_schema(auto_id=False, description="Sparse keyword weights")
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=1024)
    schema.add_field("sparse_embedding", DataType.SPARSE_FLOAT_VECTOR)
    index = client.prepare_index_params()
    index.add_index("sparse_embedding", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(spec.name, schema=schema, index_params=index)


def _build_products(client: MilvusClient, spec: CollectionSpec) -> None:
    schema = MilvusClient.create_schema(
        auto_id=False,
        enable_dynamic_field=True,
        description="Shop catalogue, partitioned by category",
    )
    schema.add_field("sku", DataType.VARCHAR, max_length=32, is_primary=True)
    schema.add_field("category", DataType.VARCHAR, max_length=64, is_partition_key=True)
    schema.add_field("name", DataType.VARCHAR, max_length=256)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=128)
    index = client.prepare_index_params()
    index.add_index("embedding", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 64})
    client.create_collection(spec.name, schema=schema, index_params=index, num_partitions=16)


def _build_reviews(client: MilvusClient, spec: CollectionSpec) -> None:
    schema = MilvusClient.create_schema(
        auto_id=True,
        enable_dynamic_field=False,
        description="Product reviews, one partition per year",
    )
    schema.add_field("review_id", DataType.INT64, is_primary=True)
    schema.add_field("sku", DataType.VARCHAR, max_length=32)
    schema.add_field("rating", DataType.INT8)
    schema.add_field("year", DataType.INT16)
    schema.add_field("body", DataType.VARCHAR, max_length=1024)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=64)
    index = client.prepare_index_params()
    index.add_index(
        "embedding", index_type="HNSW", metric_type="IP", params={"M": 8, "efConstruction": 64}
    )
    client.create_collection(spec.name, schema=schema, index_params=index)
    for partition in spec.partitions:
        client.create_partition(spec.name, partition)


def _build_faq(client: MilvusClient, spec: CollectionSpec) -> None:
    schema = MilvusClient.create_schema(
        auto_id=False, enable_dynamic_field=True, description="Support questions"
    )
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("question", DataType.VARCHAR, max_length=512)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=128)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(spec.name, schema=schema, index_params=index)


DATA = {
    "demo-serverless": (
        Cluster.Plan.SERVERLESS,
        [
            CollectionSpec("default", "articles", 3000, _build_articles, _articles),
            CollectionSpec("default", "keywords", 2000, _build_keywords, _keywords),
            CollectionSpec("catalog", "products", 4000, _build_products, _products),
            CollectionSpec(
                "catalog",
                "reviews",
                2500,
                _build_reviews,
                _reviews,
                partitions=("y2024", "y2025"),
                partition_of=lambda row: f"y{row['year']}",
            ),
        ],
    ),
    "demo-free": (Cluster.Plan.FREE, [CollectionSpec("default", "faq", 1000, _build_faq, _faq)]),
    "demo-dedicated": (Cluster.Plan.DEDICATED, []),
}

BATCH = 1000


# --- the command ---------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization, users and local clusters with data."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="reset changed demo passwords even with DEBUG off",
        )

    def handle(self, *args, force: bool = False, **options) -> None:
        started = time.monotonic()
        org, projects, clusters = self._rows(reset_passwords=force or settings.DEBUG)
        for name, (_, specs) in DATA.items():
            cluster = clusters[name]
            self.stdout.write(f"{name} ({cluster.uri}):" + ("" if specs else " no collections"))
            try:
                with _serving(cluster) as uri:
                    for spec in specs:
                        self._load(uri, spec)
            except (RuntimeError, TimeoutError, OSError) as exc:
                raise CommandError(f"cannot load demo data into {name}: {exc}") from None
            except MilvusException as exc:
                raise CommandError(
                    f"cannot load demo data into {name} ({cluster.uri}): {exc.message}"
                ) from None
        self._summary(org, projects, clusters, time.monotonic() - started)

    @transaction.atomic
    def _rows(
        self, reset_passwords: bool
    ) -> tuple[Organization, dict[str, Project], dict[str, Cluster]]:
        org, _ = Organization.objects.get_or_create(name=ORG_NAME)
        projects = {
            name: Project.objects.get_or_create(organization=org, name=name)[0] for name in PROJECTS
        }
        default = projects[PROJECTS[0]]
        for email, (password, org_role, project_role) in USERS.items():
            user = User.objects.filter(email=email).first()
            if user is not None and not reset_passwords and not user.check_password(password):
                raise CommandError(
                    f"{email} has a password of its own: seed_demo resets demo passwords only "
                    "with DEBUG on, or when forced (--force)"
                )
            user = user or User.objects.create_user(email)
            if not user.check_password(password) or not user.is_active:
                validate_password(password, user)
                user.set_password(password)
                user.is_active = True
                user.save(update_fields=["password", "is_active"])
            Membership.objects.update_or_create(
                user=user, organization=org, defaults={"role": org_role}
            )
            if project_role:
                ProjectMembership.objects.update_or_create(
                    user=user, project=default, defaults={"role": project_role}
                )
        owner = User.objects.get(email="owner@demo.local")
        clusters = {}
        for name, (plan, _) in DATA.items():
            cluster = Cluster.objects.filter(project=default, name=name).first()
            if cluster is None:
                try:
                    cluster = services.create_local_cluster(default, name, plan, created_by=owner)
                except services.ServiceError as exc:
                    raise CommandError(f"cannot create cluster {name}: {exc.message}") from None
            elif cluster.kind != Cluster.Kind.LOCAL or not cluster.port:
                raise CommandError(
                    f"cluster {name} in {ORG_NAME} / {default.name} exists but is not a local "
                    "cluster: delete or rename it, then run seed_demo again"
                )
            clusters[name] = cluster
        return org, projects, clusters

    def _load(self, uri: str, spec: CollectionSpec) -> None:
        """Create and fill one collection unless it already holds exactly the demo rows."""
        client = MilvusClient(uri=uri, timeout=30)
        try:
            if spec.db not in client.list_databases():
                client.create_database(spec.db)
            client.use_database(spec.db)
            if client.has_collection(spec.name):
                count = _count(client, spec.name)
                if count == spec.rows:
                    self.stdout.write(f"  {spec.db}.{spec.name}: {count} rows (already seeded)")
                    return
                self.stdout.write(f"  {spec.db}.{spec.name}: {count} rows, reloading")
                client.drop_collection(spec.name)
            spec.build(client, spec)
            rows = spec.make_rows(
                np.random.default_rng([SEED, zlib.crc32(spec.name.encode())]), spec.rows
            )
            for start in range(0, len(rows), BATCH):
                batch = rows[start : start + BATCH]
                if spec.partition_of is None:
                    client.insert(spec.name, batch)
                    continue
                for partition in spec.partitions:
                    part = [row for row in batch if spec.partition_of(row) == partition]
                    if part:
                        client.insert(spec.name, part, partition_name=partition)
            client.flush(spec.name)
            self.stdout.write(f"  {spec.db}.{spec.name}: {_count(client, spec.name)} rows loaded")
        finally:
            client.close()

    def _summary(
        self,
        org: Organization,
        projects: dict[str, Project],
        clusters: dict[str, Cluster],
        seconds: float,
    ) -> None:
        self.stdout.write(f"Demo organization {org.name!r} ({org.pk}) ready in {seconds:.1f}s")
        for project in projects.values():
            self.stdout.write(f"  project {project.name!r}: {project.pk}")
        for cluster in clusters.values():
            self.stdout.write(
                f"  cluster {cluster.name} ({cluster.get_plan_display()}): {cluster.pk} "
                f"on {cluster.uri}"
            )
        self.stdout.write("Demo logins:")
        for email, (password, org_role, project_role) in USERS.items():
            role = Membership.Role(org_role).label
            if project_role:
                role = f"{ProjectMembership.Role(project_role).label} in {PROJECTS[0]}"
            self.stdout.write(f"  {email:<20} password {password:<18} {role}")
        self.stdout.write(org.pk)


def _count(client: MilvusClient, name: str) -> int:
    # A restarted server may not have the collection in memory yet; count(*) needs it loaded.
    client.load_collection(name)
    result = client.query(name, output_fields=["count(*)"], consistency_level="Strong")
    return int(result[0]["count(*)"])


def _supervised_uri(cluster: Cluster, directory) -> str | None:
    """The URI of the server runclusters runs for this cluster (per its server.pid), if any."""
    record = provisioner.read_record(directory)
    if record is None or record.cluster_id != cluster.pk:
        return None
    if not provisioner.serves(record.pid, directory):
        return None
    lite_process.wait_ready(record.port, timeout=30)
    return f"http://{lite_process.HOST}:{record.port}"


@contextlib.contextmanager
def _serving(cluster: Cluster) -> Iterator[str]:
    """The URI of the cluster's server: the supervisor's if it runs, else a temporary one.

    The temporary server leaves no server.pid behind, so the supervisor starts its own later.
    """
    directory = provisioner.data_dir(settings.CLUSTERS_DIR, cluster.pk)
    uri = _supervised_uri(cluster, directory)
    if uri is not None:
        yield uri
        return
    port = cluster.port
    if lite_process.port_open(port):
        # Another program took the port while the cluster was down: move the cluster, as the
        # supervisor would, rather than write demo data into someone else's server.
        port = lite_process.free_port()
        Cluster.objects.filter(pk=cluster.pk).update(
            port=port, uri=f"http://{lite_process.HOST}:{port}"
        )
        cluster.refresh_from_db()
    lite_process.private_dir(directory)
    proc = lite_process.start_lite(directory, port, directory / "seed.log")
    try:
        yield cluster.uri
    finally:
        lite_process.stop_process(proc)
