"""What the steps of both flows share: target choices, the draft → MigrationRequest mapping,
the order of the steps and where a service refusal is shown."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.urls import reverse

from console import throttle
from console.access import managed_projects, visible_clusters
from console.live_reads import check_cluster
from console.models import Cluster, Organization, Project, User
from console.plans import target_refusal
from jobs.models import Job
from migrations_app.engine.model import CollectionInfo
from migrations_app.engine.plan import partition_key_problem
from migrations_app.models import WizardDraft
from migrations_app.service import CollectionChoice, MigrationRequest, source_refusal
from migrations_app.wizard.drafts import SPEED_CAP, source_clusters, target_projects

# Step names: the URL names of the pages, in order, per flow.
CURRENT_STEPS = ["wizard_current_edit", "wizard_target", "wizard_collections", "wizard_schema"]
OTHER_STEPS = ["wizard_other_edit", "wizard_source", "wizard_schema"]


def step_url(draft: WizardDraft, name: str) -> str:
    return reverse(name, args=[draft.pk])


def previous_url(draft: WizardDraft, name: str) -> str:
    steps = OTHER_STEPS if draft.is_other else CURRENT_STEPS
    return step_url(draft, steps[max(steps.index(name) - 1, 0)])


def page_for_service_step(draft: WizardDraft, step: str) -> str:
    """The page where the input a ServiceError's `step` names was made."""
    if draft.is_other:
        return {"source": "wizard_other_edit", "target": "wizard_source"}.get(
            step, "wizard_source" if step == "collections" else "wizard_schema"
        )
    return {
        "source": "wizard_current_edit",
        "target": "wizard_target",
        "collections": "wizard_collections",
    }.get(step, "wizard_schema")


def note_error(draft: WizardDraft, page: str, message: str) -> None:
    """Keep a refusal for `page` to show once (the user is sent there)."""
    draft.data.setdefault("step_errors", {})[page] = message
    draft.save(update_fields=["data", "updated_at"])


def pop_error(draft: WizardDraft, page: str) -> str:
    message = draft.data.get("step_errors", {}).pop(page, "")
    if message:
        draft.save(update_fields=["data", "updated_at"])
    return message


# --- targets -----------------------------------------------------------------------------


@dataclass
class ClusterOption:
    """A cluster of a Source or Target Cluster select; with a refusal, shown disabled with it."""

    cluster: Cluster
    refusal: str | None


def source_options(user: User, organization: Organization) -> list[ClusterOption]:
    """Every cluster of the organization the user may see; those of projects they do not
    manage are refused (taking data out of a project is a manage right: the service says the
    same words when one is posted anyway)."""
    managed = set(managed_projects(user).values_list("pk", flat=True))
    return [
        ClusterOption(cluster, source_refusal(user, cluster, managed))
        for cluster in source_clusters(user, organization)
    ]


def source_plan(user: User, draft: WizardDraft) -> str | None:
    """The source cluster's plan; None for a source of another organization."""
    if draft.is_other:
        return None
    source = visible_clusters(user).filter(pk=draft.data.get("source_cluster_id")).first()
    return source.plan if source else None


def target_options(user: User, draft: WizardDraft, project: Project | None) -> list[ClusterOption]:
    """Every cluster of `project` the user may see, refused ones with the reason (plan matrix
    from console.plans, or a cluster that is not running)."""
    if project is None:
        return []
    plan = source_plan(user, draft)
    options = []
    for cluster in visible_clusters(user).filter(project=project).order_by("name"):
        refusal = target_refusal(plan, cluster.plan)
        if refusal is None and cluster.status not in Cluster.LIVE_STATUSES:
            refusal = (
                f"{cluster.name} is {cluster.get_status_display().lower()}: it must be running"
            )
        if refusal is None and cluster.pk == draft.data.get("source_cluster_id"):
            refusal = "it is the source cluster"
        options.append(ClusterOption(cluster, refusal))
    return options


def cluster_databases(user: User, cluster: Cluster | None) -> tuple[list[str], str]:
    """(databases of the cluster, "default" first; or [] and the reason they cannot be read).

    An external cluster's endpoint was typed by a person: reading it counts against the
    user's connections (console.throttle)."""
    if cluster is None:
        return [], ""
    connection = cluster.connection()
    if not throttle.allow_connection(user.pk, connection):
        return [], throttle.TOO_MANY_CONNECTION_TESTS
    check = check_cluster(connection)
    if not check.ok:
        return [], f"Cannot read the databases of {cluster.name}: {check.error}"
    return sorted(check.databases, key=lambda n: (n != "default", n)), ""


def target_cluster_option(user: User, draft: WizardDraft, cluster_id: str | None) -> Cluster | None:
    """The cluster `cluster_id` if it may be the draft's target (visible, not refused)."""
    cluster = visible_clusters(user).filter(pk=cluster_id).first() if cluster_id else None
    if cluster is None:
        return None
    options = target_options(user, draft, cluster.project)
    return next((o.cluster for o in options if o.cluster.pk == cluster.pk and not o.refusal), None)


def target_database_context(user: User, draft: WizardDraft, cluster_id: str | None) -> dict:
    """What templates/migrations/_target_database.html shows: the databases of the chosen
    target cluster as suggestions (none before one is chosen), or why they cannot be read."""
    cluster = target_cluster_option(user, draft, cluster_id)
    databases, error = cluster_databases(user, cluster)
    return {"target_databases": databases, "target_databases_error": error, "target": cluster}


def target_db(draft: WizardDraft) -> str:
    """The database the collections go into: the chosen one, else the source's name."""
    return draft.data.get("target_db") or draft.data.get("source_db", "default")


def keep_target_database(draft: WizardDraft, data: dict) -> None:
    """Store Target Database and Load after migration from a valid TargetDatabaseForm."""
    draft.data.update(target_db=data["target_db"], load_after=data["load_after"])


def split_options(options: list[ClusterOption]) -> tuple[list[Cluster], dict[str, str]]:
    allowed = [o.cluster for o in options if o.refusal is None]
    refused = {o.cluster.pk: o.refusal for o in options if o.refusal}
    return allowed, refused


def chosen_project(user: User, draft: WizardDraft, project_id: str | None) -> Project | None:
    projects: QuerySet[Project] = target_projects(user, draft.project.organization)
    project = projects.filter(pk=project_id).first() if project_id else None
    return project or projects.filter(pk=draft.project_id).first() or projects.first()


# --- collections and schema ------------------------------------------------------------


def infos_of(draft: WizardDraft) -> list[CollectionInfo]:
    """The chosen collections as described when they were chosen, in the chosen order."""
    stored = draft.data.get("infos", {})
    return [
        CollectionInfo.from_dict(stored[n])
        for n in draft.data.get("collections", [])
        if n in stored
    ]


def partition_key_fields(info: CollectionInfo) -> list[str]:
    """Fields the engine accepts as a partition key (its own rule, not a copy of it)."""
    return [f.name for f in info.fields if partition_key_problem(f.name, f) is None]


def choose_collections(draft: WizardDraft, infos: list[CollectionInfo], names: list[str]) -> None:
    """Store the chosen collections (keeping earlier schema choices of the ones still chosen)."""
    by_name = {i.name: i for i in infos}
    draft.data["collections"] = [n for n in names if n in by_name]
    draft.data["infos"] = {n: by_name[n].to_dict() for n in draft.data["collections"]}
    choices = draft.data.get("choices", {})
    draft.data["choices"] = {n: c for n, c in choices.items() if n in by_name and n in names}


def migration_request(draft: WizardDraft) -> MigrationRequest:
    data = draft.data
    choices = data.get("choices", {})
    collections = [
        CollectionChoice(
            name=name,
            target_name=choices.get(name, {}).get("target_name") or None,
            description=choices.get(name, {}).get("description"),
            enable_dynamic_field=choices.get(name, {}).get("enable_dynamic_field"),
            partition_key=choices.get(name, {}).get("partition_key"),
        )
        for name in data.get("collections", [])
    ]
    new = data.get("migrate_to") == "new"
    cap = data.get(SPEED_CAP, {})
    return MigrationRequest(
        source_cluster_id="" if draft.is_other else data.get("source_cluster_id", ""),
        source_connection=draft.connection() if draft.is_other else None,
        source_db=data.get("source_db", "default"),
        target_cluster_id="" if new else data.get("target_cluster_id", ""),
        target_db=data.get("target_db", ""),
        load_after=bool(data.get("load_after")),
        collections=collections,
        max_rows_per_second=cap.get("max_rows_per_second"),
        max_mb_per_second=cap.get("max_mb_per_second"),
        new_cluster_name=data.get("new_cluster_name", "") if new else "",
        new_cluster_project_id=data.get("target_project_id", "") if new else "",
    )


def jobs_url(job: Job) -> str:
    """The Jobs page of the job's project with the new job highlighted."""
    return f"{reverse('jobs')}?project={job.project_id}&highlight={job.pk}"
