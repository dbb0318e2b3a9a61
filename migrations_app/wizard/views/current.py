"""In Current Organization: source cluster and database → target (existing or new cluster) →
collections → Configure Schema (migrations_app.wizard.views.schema)."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from console import services as console_services
from console import throttle
from console.access import visible_clusters
from console.errors import ServiceError
from console.live_reads import SourceListing, list_collections
from migrations_app.models import WizardDraft
from migrations_app.service import source_refusal
from migrations_app.wizard import steps
from migrations_app.wizard.drafts import (
    load_draft,
    new_draft,
    require_visible,
    source_clusters,
    target_projects,
    wizard_project,
)
from migrations_app.wizard.forms import NEW, CollectionsForm, StartForm, TargetForm

CURRENT = WizardDraft.Flow.CURRENT


@login_required
@require_http_methods(["GET", "POST"])
def start(request: HttpRequest, draft_id: uuid.UUID | None = None) -> HttpResponse:
    if draft_id is None:
        project = wizard_project(request)
        draft = new_draft(request.user, project, CURRENT)
    else:
        draft = load_draft(request, draft_id, CURRENT)
    options = steps.source_options(request.user, draft.project.organization)
    clusters, refused = steps.split_options(options)
    if request.method == "POST":
        require_visible(request, cluster_ids=[request.POST.get("source_cluster")])
        chosen_id = request.POST.get("source_cluster")
    else:
        chosen_id = request.GET.get("source_cluster") or draft.data.get("source_cluster_id")
    chosen = next((c for c in clusters if c.pk == chosen_id), clusters[0] if clusters else None)
    databases, db_error = steps.cluster_databases(request.user, chosen)
    initial = {
        "source_cluster": chosen.pk if chosen else "",
        "source_db": draft.data.get("source_db", ""),
        "migrate_to": draft.data.get("migrate_to", "existing"),
        "migration_type": "offline",
    }
    form = StartForm(
        request.POST or None,
        initial=initial,
        clusters=clusters,
        refused=refused,
        databases=databases,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            if draft.data.get("source_cluster_id") != data["source_cluster"] or (
                draft.data.get("source_db") != data["source_db"]
            ):
                draft.data.pop("collections", None)  # another source: choose collections anew
            draft.data.update(
                source_cluster_id=data["source_cluster"],
                source_db=data["source_db"],
                migrate_to=data["migrate_to"],
            )
            draft.save()
            return redirect(steps.step_url(draft, "wizard_target"))
        status = 400
    return render(
        request,
        "migrations/current_start.html",
        {
            "draft": None if draft._state.adding else draft,
            "form": form,
            "options": options,
            "db_error": db_error,
            "step_error": steps.pop_error(draft, "wizard_current_edit") if draft_id else "",
        },
        status=status,
    )


@login_required
@require_GET
def source_databases(request: HttpRequest) -> HttpResponse:
    """htmx: the Source Database select for the chosen Source Cluster."""
    project = wizard_project(request)
    cluster_id = request.GET.get("source_cluster", "")
    cluster = source_clusters(request.user, project.organization).filter(pk=cluster_id).first()
    if cluster is None:
        raise Http404("No such cluster")
    refused = source_refusal(request.user, cluster)
    if refused:  # listed disabled: its databases are not read for someone who may not take them
        raise PermissionDenied(refused)
    databases, db_error = steps.cluster_databases(request.user, cluster)
    form = StartForm(
        initial={"source_cluster": cluster.pk}, clusters=[cluster], databases=databases
    )
    return render(
        request,
        "migrations/current_start.html#source-db",
        {"form": form, "db_error": db_error},
    )


def _target_context(request: HttpRequest, draft: WizardDraft, project_id: str | None) -> dict:
    project = steps.chosen_project(request.user, draft, project_id)
    options = steps.target_options(request.user, draft, project)
    return {"project": project, "options": options, "draft": draft}


@login_required
@require_http_methods(["GET", "POST"])
def target(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    draft = load_draft(request, draft_id, CURRENT)
    if not draft.data.get("source_cluster_id"):
        return redirect(steps.step_url(draft, "wizard_current_edit"))
    new_cluster = draft.data.get("migrate_to") == NEW
    if request.method == "POST":
        require_visible(
            request,
            cluster_ids=[request.POST.get("target_cluster")],
            project_ids=[request.POST.get("target_project")],
        )
        project_id = request.POST.get("target_project")
    else:
        project_id = request.GET.get("target_project") or draft.data.get("target_project_id")
    context = _target_context(request, draft, project_id)
    allowed, refused = steps.split_options(context["options"])
    projects = target_projects(request.user, draft.project.organization)
    initial = {
        "target_project": context["project"].pk if context["project"] else "",
        "target_cluster": draft.data.get("target_cluster_id", ""),
        "cluster_name": draft.data.get("new_cluster_name", ""),
        "target_db": draft.data.get("target_db", ""),
        "load_after": draft.data.get("load_after", False),
    }
    form = TargetForm(
        request.POST or None,
        initial=initial,
        projects=projects,
        allowed=allowed,
        refused=refused,
        new_cluster=new_cluster,
    )
    if not new_cluster:
        form.fields["target_project"].widget.attrs.update(
            {
                "hx-get": reverse("wizard_target_clusters", args=[draft.pk]),
                "hx-target": "#target-cluster",
                "hx-swap": "outerHTML",
            }
        )
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "back":
            return redirect(steps.step_url(draft, "wizard_current_edit"))
        if form.is_valid() and new_cluster:
            try:
                console_services.check_cluster_name(
                    context["project"], form.cleaned_data["cluster_name"]
                )
                console_services.check_local_cluster_quota(draft.project.organization)
            except ServiceError as exc:
                form.add_error("cluster_name", exc.message)
        if form.is_valid():
            data = form.cleaned_data
            draft.data.update(
                target_project_id=data["target_project"],
                target_cluster_id="" if new_cluster else data["target_cluster"],
                new_cluster_name=data["cluster_name"].strip() if new_cluster else "",
            )
            steps.keep_target_database(draft, data)
            draft.save()
            return redirect(steps.step_url(draft, "wizard_collections"))
        status = 400
    context.update(
        form=form,
        new_cluster=new_cluster,
        step_error=steps.pop_error(draft, "wizard_target"),
        source_db=draft.data.get("source_db", "default"),
    )
    if not new_cluster:
        context.update(
            steps.target_database_context(request.user, draft, form["target_cluster"].value())
        )
    return render(request, "migrations/current_target.html", context, status=status)


@login_required
@require_GET
def target_clusters(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """htmx: the Target Cluster select for the chosen Target Project (both flows)."""
    draft = load_draft(request, draft_id)
    project_id = request.GET.get("target_project", "")
    require_visible(request, project_ids=[project_id])
    context = _target_context(request, draft, project_id)
    context.update(selected=draft.data.get("target_cluster_id", ""), field_errors=[])
    return render(request, "migrations/_target_cluster.html", context)


@login_required
@require_GET
def target_databases(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """htmx: the Target Database suggestions for the chosen Target Cluster (both flows)."""
    draft = load_draft(request, draft_id)
    cluster_id = request.GET.get("target_cluster", "")
    require_visible(request, cluster_ids=[cluster_id])
    context = steps.target_database_context(request.user, draft, cluster_id)
    return render(request, "migrations/_target_database.html#suggestions", context)


@login_required
@require_GET
def cluster_name_check(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """htmx: is the New Cluster's name allowed and free in the chosen project?"""
    draft = load_draft(request, draft_id, CURRENT)
    project_id = request.GET.get("target_project", "")
    require_visible(request, project_ids=[project_id])
    project = steps.chosen_project(request.user, draft, project_id)
    name = request.GET.get("cluster_name", "")
    problem, ok = "", ""
    try:
        name = console_services.check_cluster_name(project, name)
        ok = f"{name} is free in project {project.name}."
    except ServiceError as exc:
        problem = exc.message[:1].upper() + exc.message[1:]
    return render(
        request, "migrations/current_target.html#name-check", {"problem": problem, "ok": ok}
    )


@login_required
@require_http_methods(["GET", "POST"])
def collections(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    draft = load_draft(request, draft_id, CURRENT)
    data = draft.data
    if not data.get("target_project_id"):
        return redirect(steps.step_url(draft, "wizard_target"))
    source = visible_clusters(request.user).filter(pk=data.get("source_cluster_id")).first()
    if source is None:
        raise Http404("No such cluster")
    refused = source_refusal(request.user, source)
    if refused:  # a right lost since the first step: its collections are not read
        steps.note_error(draft, "wizard_current_edit", refused)
        return redirect(steps.step_url(draft, "wizard_current_edit"))
    if request.method == "POST" and request.POST.get("action") == "back":
        return redirect(steps.step_url(draft, "wizard_target"))
    connection = source.connection()
    if throttle.allow_connection(request.user.pk, connection):
        listing = list_collections(connection, data.get("source_db", "default"))
    else:
        listing = SourceListing(ok=False, error=throttle.TOO_MANY_CONNECTION_TESTS)
    form = CollectionsForm(
        request.POST or None,
        initial={"collections": data.get("collections", [])},
        infos=listing.collections,
    )
    status = 200
    if request.method == "POST":
        if listing.ok and form.is_valid():
            steps.choose_collections(draft, listing.collections, form.cleaned_data["collections"])
            draft.save()
            return redirect(steps.step_url(draft, "wizard_schema"))
        status = 400
    return render(
        request,
        "migrations/current_collections.html",
        {
            "draft": draft,
            "source": source,
            "listing": listing,
            "form": form,
            "step_error": steps.pop_error(draft, "wizard_collections"),
        },
        status=status,
    )
