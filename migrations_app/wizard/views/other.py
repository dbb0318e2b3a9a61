"""In Other Organization: Connect to Data Source → Select Source and Target → Configure Schema.

The typed endpoint and credentials are tested on Next and kept only encrypted in the draft;
they are never rendered back (an empty secret on a later visit keeps the stored one).

Every connection to the typed endpoint counts against the user's limit (console.throttle), so
the draft keeps what it read: the databases (Connect) and each database's collections (the
first time it is shown), until the next Connect reads the source again.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from console import throttle
from console.connections import Connection
from console.live_reads import SourceListing, list_collections, list_databases
from console.models import Cluster
from migrations_app.engine.model import CollectionInfo
from migrations_app.models import WizardDraft
from migrations_app.wizard import steps
from migrations_app.wizard.drafts import (
    load_draft,
    new_draft,
    require_visible,
    target_projects,
    wizard_project,
)
from migrations_app.wizard.forms import ConnectForm, SourceTargetForm

OTHER = WizardDraft.Flow.OTHER


def _merged(form: ConnectForm, stored: Connection | None) -> Connection:
    """The typed connection; an empty secret keeps the stored one, but only for the same
    endpoint and user, so a stored secret is never sent anywhere the user did not send it."""
    typed = form.connection()
    if stored is None or stored.uri != typed.uri:
        return typed
    if typed.auth == "USER_PASSWORD" and not typed.password and stored.username == typed.username:
        return Connection(typed.uri, username=typed.username, password=stored.password)
    if form.cleaned_data["auth"] == Cluster.Auth.API_KEY and not typed.token and stored.token:
        return Connection(typed.uri, token=stored.token)
    return typed


@login_required
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("api_key", "password")
def connect(request: HttpRequest, draft_id: uuid.UUID | None = None) -> HttpResponse:
    if draft_id is None:
        draft = new_draft(request.user, wizard_project(request), OTHER)
        stored = None
    else:
        draft = load_draft(request, draft_id, OTHER)
        stored = draft.connection()
    stored_auth = stored.auth if stored is not None and stored.auth != "NONE" else ""
    initial = {
        "uri": draft.data.get("endpoint", ""),
        "auth": stored_auth or Cluster.Auth.API_KEY,
        "username": stored.username if stored else "",
    }
    form = ConnectForm(request.POST or None, initial=initial, stored=stored_auth)
    error = steps.pop_error(draft, "wizard_other_edit") if draft_id else ""
    status = 200
    if request.method == "POST":
        if not throttle.allow_connection_test(request.user.pk):
            # Each Next makes the server open a connection: not a port scanner either.
            error = throttle.TOO_MANY_CONNECTION_TESTS
        elif form.is_valid():
            connection = _merged(form, stored)
            listing = list_databases(connection)
            if listing.ok:
                if draft.data.get("endpoint") != connection.uri:
                    draft.data = {}  # another source: everything after this step starts over
                draft.data.pop("listings", None)  # read again from the source as it is now
                draft.data.update(endpoint=connection.uri, databases=listing.databases)
                draft.set_connection(connection)
                draft.save()
                return redirect(steps.step_url(draft, "wizard_source"))
            error = listing.error
        status = 400
    response = render(
        request,
        "migrations/other_connect.html",
        {"draft": None if draft._state.adding else draft, "form": form, "step_error": error},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


def _listing(
    request: HttpRequest, draft: WizardDraft, connection: Connection, db: str
) -> SourceListing:
    """Database `db`'s collections as this draft read them; read (a counted connection) and
    kept the first time."""
    stored = draft.data.get("listings", {}).get(db)
    if stored is not None:
        return SourceListing(ok=True, collections=[CollectionInfo.from_dict(i) for i in stored])
    if not throttle.allow_connection(request.user.pk, connection):
        return SourceListing(ok=False, error=throttle.TOO_MANY_CONNECTION_TESTS)
    listing = list_collections(connection, db)
    if listing.ok:
        draft.data.setdefault("listings", {})[db] = [i.to_dict() for i in listing.collections]
        draft.save(update_fields=["data", "updated_at"])
    return listing


def _source_db(draft: WizardDraft, requested: str | None) -> str:
    databases = draft.data.get("databases", [])
    if requested in databases:
        return requested
    current = draft.data.get("source_db")
    return current if current in databases else (databases[0] if databases else "default")


@login_required
@require_http_methods(["GET", "POST"])
def source(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    draft = load_draft(request, draft_id, OTHER)
    connection = draft.connection()
    if connection is None:
        return redirect(steps.step_url(draft, "wizard_other_edit"))
    if request.method == "POST" and request.POST.get("action") == "back":
        return redirect(steps.step_url(draft, "wizard_other_edit"))
    if request.method == "POST":
        require_visible(
            request,
            cluster_ids=[request.POST.get("target_cluster")],
            project_ids=[request.POST.get("target_project")],
        )
        db = request.POST.get("source_db", "")
        project_id = request.POST.get("target_project")
    else:
        db = _source_db(draft, request.GET.get("source_db"))
        project_id = request.GET.get("target_project") or draft.data.get("target_project_id")
    known = db in draft.data.get("databases", [])
    listing = _listing(request, draft, connection, db) if known else None
    infos = listing.collections if listing else []
    project = steps.chosen_project(request.user, draft, project_id)
    options = steps.target_options(request.user, draft, project)
    allowed, refused = steps.split_options(options)
    initial = {
        "source_db": db,
        "collections": draft.data.get("collections", []),
        "target_project": project.pk if project else "",
        "target_cluster": draft.data.get("target_cluster_id", ""),
        "target_db": draft.data.get("target_db", ""),
        "load_after": draft.data.get("load_after", False),
    }
    form = SourceTargetForm(
        request.POST or None,
        initial=initial,
        databases=draft.data.get("databases", []),
        infos=infos,
        projects=target_projects(request.user, draft.project.organization),
        allowed=allowed,
        refused=refused,
    )
    status = 200
    if request.method == "POST":
        if listing is not None and listing.ok and form.is_valid():
            data = form.cleaned_data
            draft.data.update(
                source_db=data["source_db"],
                target_project_id=data["target_project"],
                target_cluster_id=data["target_cluster"],
                migrate_to="existing",
            )
            steps.keep_target_database(draft, data)
            steps.choose_collections(draft, infos, data["collections"])
            draft.save()
            return redirect(steps.step_url(draft, "wizard_schema"))
        status = 400
    context = {
        "draft": draft,
        "form": form,
        "listing": listing,
        "project": project,
        "options": options,
        "endpoint": connection.address,
        "source_db": db,
        "step_error": steps.pop_error(draft, "wizard_source"),
    }
    context.update(
        steps.target_database_context(request.user, draft, form["target_cluster"].value())
    )
    return render(request, "migrations/other_source.html", context, status=status)


@login_required
@require_GET
def source_collections(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """htmx: the collection checkboxes of the chosen Source Database."""
    draft = load_draft(request, draft_id, OTHER)
    connection = draft.connection()
    db = request.GET.get("source_db", "")
    if connection is None or db not in draft.data.get("databases", []):
        raise Http404("No such database")
    listing = _listing(request, draft, connection, db)
    form = SourceTargetForm(
        initial={"source_db": db, "collections": draft.data.get("collections", [])},
        databases=draft.data.get("databases", []),
        infos=listing.collections,
        projects=[],
        allowed=[],
        refused={},
    )
    return render(request, "migrations/_collection_list.html", {"form": form, "listing": listing})
