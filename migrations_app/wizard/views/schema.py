"""Configure Schema (both flows): one section per collection, the live name check, the
pre-migration findings, *Check only* and *Migrate*.

The service decides: *Check only* shows everything `check_migration` found, creating nothing;
*Migrate* calls `start_migration`, clears the draft and lands on the Jobs page with the job
highlighted. A refusal about an earlier step is shown on that step.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from console import throttle
from console.access import visible_clusters
from console.errors import Kind, ServiceError
from console.live_reads import collection_names
from jobs.forms import SpeedCapForm
from migrations_app import service
from migrations_app.engine.model import CollectionInfo
from migrations_app.engine.names import duplicate_targets, invalid_name, name_taken
from migrations_app.models import WizardDraft
from migrations_app.wizard import steps
from migrations_app.wizard.drafts import SPEED_CAP, finish_draft, load_draft
from migrations_app.wizard.forms import CollectionSchemaForm


def _forms(draft: WizardDraft, infos: list[CollectionInfo], data=None) -> list:
    choices = draft.data.get("choices", {})
    forms = []
    for index, info in enumerate(infos):
        chosen = choices.get(info.name, {})
        key = chosen.get("partition_key")
        initial = {
            "target_name": chosen.get("target_name") or info.name,
            "description": chosen.get("description", info.description),
            "dynamic_field": chosen.get("enable_dynamic_field", info.enable_dynamic_field),
            "partition_key": info.partition_key or "" if key is None else key,
        }
        forms.append(
            CollectionSchemaForm(
                data,
                prefix=f"c{index}",
                initial=initial,
                info=info,
                key_fields=steps.partition_key_fields(info),
            )
        )
    return forms


def _store_choices(draft: WizardDraft, forms: list) -> None:
    draft.data["choices"] = {
        form.info.name: {
            "target_name": form.cleaned_data["target_name"].strip() or form.info.name,
            "description": form.cleaned_data["description"],
            "enable_dynamic_field": form.cleaned_data["dynamic_field"],
            "partition_key": form.cleaned_data["partition_key"],
        }
        for form in forms
    }


def _sections(forms: list, problems: list[str]) -> tuple[list[dict], list[str]]:
    """Each form with the findings that name its collection ("<source name>: …"), and the
    findings that name none. Every finding is shown once: under its collection, else in the
    Pre-migration Check; one finding about several collections (a target name chosen twice)
    only under the first of them."""
    shown: set[str] = set()
    sections = []
    for form in forms:
        prefix = f"{form.info.name}: "
        mine = []
        for problem in problems:
            body = problem.removeprefix(prefix)
            if problem.startswith(prefix) and body not in shown:
                shown.add(body)
                mine.append(problem)
        sections.append({"form": form, "info": form.info, "problems": mine})
    placed = {p for section in sections for p in section["problems"]}
    named = tuple(f"{form.info.name}: " for form in forms)
    others = [p for p in dict.fromkeys(problems) if p not in placed and not p.startswith(named)]
    return sections, others


def _target_label(request: HttpRequest, draft: WizardDraft) -> str:
    if draft.data.get("migrate_to") == "new":
        return f"new cluster {draft.data.get('new_cluster_name', '')}"
    cluster = visible_clusters(request.user).filter(pk=draft.data.get("target_cluster_id")).first()
    return f"cluster {cluster.name}" if cluster else ""


def _refusal_response(draft: WizardDraft, exc: ServiceError) -> HttpResponse | None:
    """Where a refusal goes: 403/404 as such, an earlier step's input back to that step."""
    if exc.kind == Kind.FORBIDDEN:
        raise PermissionDenied(exc.message)
    if exc.kind == Kind.NOT_FOUND:
        raise Http404(exc.message)
    page = steps.page_for_service_step(draft, exc.step)
    if page != "wizard_schema":
        steps.note_error(draft, page, exc.message)
        return redirect(steps.step_url(draft, page))
    return None


@login_required
@require_http_methods(["GET", "POST"])
def schema(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    draft = load_draft(request, draft_id)
    infos = steps.infos_of(draft)
    if not infos:
        page = "wizard_source" if draft.is_other else "wizard_collections"
        return redirect(steps.step_url(draft, page))
    if request.method == "GET" and draft.data.pop(TARGET_NAMES, None) is not None:
        draft.save(update_fields=["data", "updated_at"])
    forms = _forms(draft, infos, request.POST or None)
    cap_form = SpeedCapForm(
        request.POST or None, prefix="cap", initial=draft.data.get(SPEED_CAP, {})
    )
    check, failure, problems, status, fields_failure = None, "", [], 200, ""
    if request.method == "POST":
        action = request.POST.get("action", "check")
        if not all([form.is_valid() for form in forms] + [cap_form.is_valid()]):
            fields_failure, status = "Correct the fields marked below.", 400
        else:
            _store_choices(draft, forms)
            draft.data[SPEED_CAP] = cap_form.cleaned_data
            draft.save()
            if action == "back":
                return redirect(steps.previous_url(draft, "wizard_schema"))
            try:
                if action == "migrate":
                    job = service.start_migration(request.user, steps.migration_request(draft))
                    finish_draft(draft, job.pk)
                    messages.success(
                        request,
                        f"Migration job {job.pk} created: {len(infos)} collection"
                        f"{'s' if len(infos) != 1 else ''} from {job.source_name} to "
                        f"{job.target_name}.",
                    )
                    return redirect(steps.jobs_url(job))
                check = service.check_migration(request.user, steps.migration_request(draft))
                problems = check.problems
                status = 200 if check.ok else 400
            except ServiceError as exc:
                elsewhere = _refusal_response(draft, exc)
                if elsewhere is not None:
                    return elsewhere
                failure, problems, status = exc.message, exc.problems, 400
    sections, other_problems = _sections(forms, problems)
    context = {
        "draft": draft,
        "sections": sections,
        "cap_form": cap_form,
        "check": check,
        "failure": failure,
        "fields_failure": fields_failure,
        "problems": problems,
        "other_problems": other_problems,
        "problem_count": len(other_problems) + sum(len(x["problems"]) for x in sections),
        "target_label": _target_label(request, draft),
        "target_db": steps.target_db(draft),
        "back_url": steps.previous_url(draft, "wizard_schema"),
        "step_error": steps.pop_error(draft, "wizard_schema"),
    }
    return render(request, "migrations/schema.html", context, status=status)


@login_required
@require_GET
def review(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """htmx, on load of Configure Schema: the findings of the saved choices (warnings shown
    before Migrate, not after)."""
    draft = load_draft(request, draft_id)
    check, failure, problems = None, "", []
    try:
        check = service.check_migration(request.user, steps.migration_request(draft))
        problems = check.problems
    except ServiceError as exc:
        # Shown as it is, whatever its kind: an htmx 403/404 would leave "Checking…" forever,
        # and Migrate answers the same refusal with its proper status.
        failure, problems = exc.message, exc.problems
    # On load the sections are already drawn without findings: list them all here, once each.
    names = [f"{info.name}: " for info in steps.infos_of(draft)]
    bodies, other_problems = set(), []
    for problem in problems:
        body = next((problem.removeprefix(n) for n in names if problem.startswith(n)), problem)
        if body not in bodies:
            bodies.add(body)
            other_problems.append(problem)
    return render(
        request,
        "migrations/schema.html#findings",
        {
            "check": check,
            "failure": failure,
            "problems": problems,
            "other_problems": other_problems,
            "problem_count": len(other_problems),
            "reviewed": True,
        },
    )


# The target's collection names as the name check read them: {"of": "<cluster id>/<db>",
# "names": [...]}. Read once per visit of Configure Schema (its GET forgets them), not on every
# keystroke: an external target's endpoint was typed by a person and each read counts against
# the user's connections. Check only and Migrate read the target afresh.
TARGET_NAMES = "target_names"


def _taken_on_target(request: HttpRequest, draft: WizardDraft) -> tuple[set[str], str]:
    """Collection names already in the target database, or (empty, why they are unknown)."""
    if draft.data.get("migrate_to") == "new":
        return set(), ""
    cluster = visible_clusters(request.user).filter(pk=draft.data.get("target_cluster_id")).first()
    if cluster is None:
        raise Http404("No such cluster")
    db = steps.target_db(draft)
    of = f"{cluster.pk}/{db}"
    kept = draft.data.get(TARGET_NAMES, {})
    if kept.get("of") == of:
        return set(kept["names"]), ""
    connection = cluster.connection()
    if not throttle.allow_connection(request.user.pk, connection):
        return set(), f"cannot check the target: {throttle.TOO_MANY_CONNECTION_TESTS}"
    names, note = collection_names(connection, db)
    if not note:
        draft.data[TARGET_NAMES] = {"of": of, "names": sorted(names)}
        draft.save(update_fields=["data", "updated_at"])
    return names, note


def _suggest(name: str, taken: set[str]) -> str:
    base = name if invalid_name(name, "collection") is None else "collection"
    for n in range(2, 1000):
        candidate = f"{base[:250]}_{n}"
        if candidate not in taken:
            return candidate
    return ""


@login_required
@require_GET
def name_check(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """htmx, as the user types a Target Collection Name: valid, free in the target database,
    unique within this migration (the engine's own findings and words); a conflict comes with a
    free name to use instead."""
    draft = load_draft(request, draft_id)
    infos = steps.infos_of(draft)
    index = request.GET.get("index", "")
    if not index.isdigit() or int(index) >= len(infos):
        raise Http404("No such collection")
    index = int(index)
    names = [
        (request.GET.get(f"c{i}-target_name") or "").strip() or info.name
        for i, info in enumerate(infos)
    ]
    name = names[index]
    others = {n for i, n in enumerate(names) if i != index}
    db = steps.target_db(draft)
    finding = invalid_name(name, "target collection")
    suggestion, ok, note = "", "", ""
    if finding is None:
        taken, note = _taken_on_target(request, draft)
        targets = [(f"{info.db}.{info.name}", db, n) for info, n in zip(infos, names, strict=True)]
        finding = duplicate_targets(targets).get(index)
        if finding is None and name in taken:
            finding = name_taken(name, db)
        if finding is None:
            ok = f"{name} is free in database {db} of the {_target_label(request, draft)}."
        else:
            suggestion = _suggest(name, taken | others)
    problem = finding.message[:1].upper() + finding.message[1:] if finding else ""
    return render(
        request,
        "migrations/schema.html#name-check",
        {"index": index, "problem": problem, "suggestion": suggestion, "ok": ok, "note": note},
    )
