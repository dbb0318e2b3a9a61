from django.urls import path

from migrations_app.wizard.views import current, landing, other, schema

urlpatterns = [
    path("", landing.landing, name="migrations"),
    # In Current Organization
    path("current/", current.start, name="wizard_current"),
    path("current/databases/", current.source_databases, name="wizard_source_databases"),
    path("<uuid:draft_id>/start/", current.start, name="wizard_current_edit"),
    path("<uuid:draft_id>/target/", current.target, name="wizard_target"),
    path(
        "<uuid:draft_id>/target/clusters/", current.target_clusters, name="wizard_target_clusters"
    ),
    path(
        "<uuid:draft_id>/target/databases/",
        current.target_databases,
        name="wizard_target_databases",
    ),
    path(
        "<uuid:draft_id>/target/cluster-name/",
        current.cluster_name_check,
        name="wizard_cluster_name",
    ),
    path("<uuid:draft_id>/collections/", current.collections, name="wizard_collections"),
    # In Other Organization
    path("other/", other.connect, name="wizard_other"),
    path("<uuid:draft_id>/connect/", other.connect, name="wizard_other_edit"),
    path("<uuid:draft_id>/source/", other.source, name="wizard_source"),
    path(
        "<uuid:draft_id>/source/collections/",
        other.source_collections,
        name="wizard_source_collections",
    ),
    # Both
    path("<uuid:draft_id>/schema/", schema.schema, name="wizard_schema"),
    path("<uuid:draft_id>/schema/review/", schema.review, name="wizard_review"),
    path("<uuid:draft_id>/schema/name/", schema.name_check, name="wizard_name_check"),
]
