"""Clusters pages: list, detail (+ status polling), register external, create local, test
connection, delete.

Every view starts with the access helper: a user who may not see the project or cluster gets
404, a watcher who tries to change something gets 403. Rows are created through
console.services; local servers are started and stopped by the supervisor (runclusters),
never by the web process.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HTMX_STOP_POLLING

from console import collection_drops, services, throttle
from console.access import (
    can_manage,
    get_cluster_for,
    project_from_request,
    show_project,
    visible_clusters,
)
from console.clusters.forms import (
    ConnectionForm,
    CreateClusterForm,
    DeleteClusterForm,
    DropCollectionForm,
    RegisterClusterForm,
)
from console.errors import sentence
from console.live_reads import (
    ServerCheck,
    check_cluster,
    check_clusters,
    read_catalog,
    read_collection,
)
from console.models import Cluster
from console.redaction import redact

# The cluster page lists this many of the latest events.
EVENTS_SHOWN = 20
# Test connection waits longer than a page read: a far-away server may be slow to answer.
TEST_CONNECTION_TIMEOUT = 5.0
# Each test or registration makes the server open a connection: counted per user, so the form
# cannot scan ports quickly (console/throttle.py).


@login_required
@require_GET
def cluster_list(request: HttpRequest) -> HttpResponse:
    project = project_from_request(request)
    clusters = list(visible_clusters(request.user).filter(project=project))
    live = [c for c in clusters if c.status in Cluster.LIVE_STATUSES]
    checks = check_clusters(live)
    rows = [{"cluster": c, "check": checks.get(c.pk)} for c in clusters]
    return render(
        request,
        "clusters/list.html",
        {
            "project": project,
            "rows": rows,
            "can_manage": can_manage(request.user, project),
        },
    )


def _detail_context(request: HttpRequest, cluster: Cluster) -> dict:
    catalog = read_catalog(cluster) if cluster.status in Cluster.LIVE_STATUSES else None
    return {
        "cluster": cluster,
        "catalog": catalog,
        "polling": cluster.status == Cluster.Status.CREATING,
        "can_manage": can_manage(request.user, cluster.project),
        "events": list(cluster.events.select_related("user")[:EVENTS_SHOWN]),
    }


@login_required
@require_GET
def cluster_detail(request: HttpRequest, cluster_id: str) -> HttpResponse:
    cluster = get_cluster_for(request.user, cluster_id)
    show_project(request, cluster.project)
    return render(request, "clusters/detail.html", _detail_context(request, cluster))


@login_required
@require_GET
def cluster_collection(request: HttpRequest, cluster_id: str, db: str, name: str) -> HttpResponse:
    """One collection's card on the cluster page, which asks for each card apart (htmx, on
    load) so that large collections never hold the page (console/live_reads.read_catalog)."""
    cluster = get_cluster_for(request.user, cluster_id)
    if cluster.status not in Cluster.LIVE_STATUSES:
        return redirect("cluster_detail", cluster_id=cluster.pk)
    read = read_collection(cluster, db, name)
    return render(
        request,
        "clusters/_collection.html",
        {
            "cluster": cluster,
            "db": db,
            "name": name,
            "read": read,
            "can_manage": can_manage(request.user, cluster.project),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def cluster_collection_drop(
    request: HttpRequest, cluster_id: str, db: str, name: str
) -> HttpResponse:
    """Drop Collection: a page asking for the collection's name, then the drop (the service
    refuses in words; the page shows why and nothing is dropped)."""
    cluster = get_cluster_for(
        request.user, cluster_id, write=True, action=collection_drops.ACTION_DROP
    )
    form = DropCollectionForm(request.POST or None, collection=name)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                rows = collection_drops.drop_collection(request.user, cluster, db, name)
            except services.ServiceError as exc:
                form.add_error(None, sentence(exc.message))
                status = exc.http_status
            else:
                messages.success(
                    request, f"Collection {name} of database {db} dropped ({rows:,} rows)."
                )
                return redirect("cluster_detail", cluster_id=cluster.pk)
    context = {"form": form, "cluster": cluster, "db": db, "name": name}
    return render(request, "clusters/drop_collection.html", context, status=status)


@login_required
@require_GET
def cluster_status(request: HttpRequest, cluster_id: str) -> HttpResponse:
    """htmx poll of a cluster being created: the detail body, 286 once it is no longer
    CREATING (htmx then swaps in the final body, with the live catalog, and stops polling)."""
    cluster = get_cluster_for(request.user, cluster_id)
    if not request.htmx:
        return redirect("cluster_detail", cluster_id=cluster.pk)
    context = _detail_context(request, cluster)
    status = 200 if context["polling"] else HTMX_STOP_POLLING
    return render(request, "clusters/detail.html#cluster-body", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("api_key", "password")
def cluster_register(request: HttpRequest) -> HttpResponse:
    project = project_from_request(request, write=True, action="register clusters")
    form = RegisterClusterForm(request.POST or None, project=project)
    result = None
    if request.method == "POST":
        if not throttle.allow_connection_test(request.user.pk):
            result = ServerCheck(ok=False, error=throttle.TOO_MANY_CONNECTION_TESTS)
        elif form.is_valid():
            data = form.cleaned_data
            # The same check as the Test connection button, so a failure reads the same on
            # both paths and shows in the one place Test connection uses (#connection-result).
            result = check_cluster(form.connection(), timeout=TEST_CONNECTION_TIMEOUT)
            if result.ok:
                try:
                    cluster = services.register_external_cluster(
                        project,
                        data["name"],
                        data["plan"],
                        data["uri"],
                        created_by=request.user,
                        **form.credentials(),
                    )
                except services.ServiceError as exc:
                    message = redact(exc.message, form.secrets())
                    if exc.field == "name":  # taken meanwhile: said on the field, as the form does
                        form.add_error("name", sentence(message))
                    else:
                        form.add_error(None, message)
                else:
                    messages.success(
                        request,
                        f"Cluster {cluster.name} registered: it is running "
                        f"Milvus {cluster.server_version}.",
                    )
                    return redirect("cluster_detail", cluster_id=cluster.pk)
    response = render(
        request,
        "clusters/register.html",
        {"form": form, "project": project, "result": result},
        status=400 if request.method == "POST" else 200,
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
@sensitive_post_parameters("api_key", "password")
def cluster_test_connection(request: HttpRequest) -> HttpResponse:
    """The Test connection button (htmx): version, databases and collections, or the error.

    Answers 200 either way so htmx swaps the result in; the body says which it was.
    """
    project = project_from_request(request, write=True, action="register clusters")
    form = ConnectionForm(request.POST, project=project)
    result = None
    if not throttle.allow_connection_test(request.user.pk):
        result = ServerCheck(ok=False, error=throttle.TOO_MANY_CONNECTION_TESTS)
    elif form.is_valid():
        result = check_cluster(form.connection(), timeout=TEST_CONNECTION_TIMEOUT)
    response = render(
        request,
        "clusters/register.html#connection-result",
        {"form": form, "result": result, "testing": True},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def cluster_create(request: HttpRequest) -> HttpResponse:
    project = project_from_request(request, write=True, action="create clusters")
    form = CreateClusterForm(request.POST or None, project=project)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                cluster = services.create_local_cluster(
                    project,
                    form.cleaned_data["name"],
                    form.cleaned_data["plan"],
                    created_by=request.user,
                )
            except services.ServiceError as exc:
                if exc.field == "name":  # taken meanwhile: said on the field, as the form does
                    form.add_error("name", sentence(exc.message))
                else:
                    form.add_error(None, exc.message)
            else:
                # No flash message: the detail page says "being created" inside its polled
                # body, so the notice goes away by itself once the cluster is running.
                return redirect("cluster_detail", cluster_id=cluster.pk)
        status = 400
    return render(
        request, "clusters/create.html", {"form": form, "project": project}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def cluster_delete(request: HttpRequest, cluster_id: str) -> HttpResponse:
    cluster = get_cluster_for(request.user, cluster_id, write=True, action="delete clusters")
    form = DeleteClusterForm(request.POST or None, cluster=cluster)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.delete_cluster(cluster)
            except services.ServiceError as exc:
                form.add_error(None, exc.message)
                return render(
                    request, "clusters/delete.html", {"form": form, "cluster": cluster}, status=409
                )
            note = (
                " The supervisor stops its server and removes its data."
                if cluster.kind == Cluster.Kind.LOCAL
                else ""
            )
            messages.success(request, f"Cluster {cluster.name} deleted.{note}")
            return redirect(f"{reverse('clusters')}?project={cluster.project_id}")
        status = 400
    return render(
        request, "clusters/delete.html", {"form": form, "cluster": cluster}, status=status
    )
