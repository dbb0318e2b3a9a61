from django.urls import path

from migrations_app.wizard.drafts import goes_to_its_job
from migrations_app.wizard.views import current, landing, other, schema

urlpatterns = [
    path("", landing.landing, name="migrations"),
    # In Current Organization
    path("current/", current.start, name="wizard_current"),
    path("current/databases/", current.source_databases, name="wizard_source_databases"),
    path("<uuid:draft_id>/start/", goes_to_its_job(current.start), name="wizard_current_edit"),
    path("<uuid:draft_id>/target/", goes_to_its_job(current.target), name="wizard_target"),
    path(
        "<uuid:draft_id>/target/clusters/",
        goes_to_its_job(current.target_clusters),
        name="wizard_target_clusters",
    ),
    path(
        "<uuid:draft_id>/target/databases/",
        current.target_databases,
        name="wizard_target_databases",
    ),
    path(
        "<uuid:draft_id>/target/cluster-name/",
        goes_to_its_job(current.cluster_name_check),
        name="wizard_cluster_name",
    ),
    path(
        "<uuid:draft_id>/collections/",
        goes_to_its_job(current.collections),
        name="wizard_collections",
    ),
    # In Other Organization
    path("other/", other.connect, name="wizard_other"),
    path("<uuid:draft_id>/connect/", goes_to_its_job(other.connect), name="wizard_other_edit"),
    path("<uuid:draft_id>/source/", goes_to_its_job(other.source), name="wizard_source"),
    path(
        "<uuid:draft_id>/source/collections/",
        goes_to_its_job(other.source_collections),
        name="wizard_source_collections",
    ),
    # Both
    path("<uuid:draft_id>/schema/", goes_to_its_job(schema.schema), name="wizard_schema"),
    path("<uuid:draft_id>/schema/review/", goes_to_its_job(schema.review), name="wizard_review"),
    path(
        "<uuid:draft_id>/schema/name/", goes_to_its_job(schema.name_check), name="wizard_name_check"
    ),
]
