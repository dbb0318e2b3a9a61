from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView

from console.views import api_keys, auth, project_settings

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="clusters", permanent=False)),
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path("favicon.ico", RedirectView.as_view(url=static("console/favicon.svg"), permanent=True)),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("switch-project/", auth.switch_project, name="switch_project"),
    path("api-keys/", api_keys.api_key_list, name="api_keys"),
    path("api-keys/<int:key_id>/delete/", api_keys.api_key_delete, name="api_key_delete"),
    path(
        "projects/<str:project_id>/settings/",
        project_settings.project_settings,
        name="project_settings",
    ),
    path(
        "projects/<str:project_id>/settings/webhook/remove/",
        project_settings.project_webhook_remove,
        name="project_webhook_remove",
    ),
    path("clusters/", include("console.clusters.urls")),
    path("migrations/", include("migrations_app.wizard.urls")),
    path("jobs/", include("jobs.urls")),
    # The REST API (its routers live above the console: jobs and migrations).
    path("v2/", include("migrations_app.api_site")),
]
