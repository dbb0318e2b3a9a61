"""Forms of the Clusters pages. They only validate; the views apply through console.services.

Secret inputs (API key, password) are password inputs that never render a submitted value
back, so a form shown again after an error does not carry the secret into the page.
"""

from __future__ import annotations

from django import forms

from console import services
from console.clients import check_endpoint, same_server
from console.connections import Connection
from console.errors import ServiceError, sentence
from console.models import Cluster, Project
from migrations_app.engine.errors import EndpointRejected

NAME_MAX = Cluster._meta.get_field("name").max_length

AUTH_API_KEY = Cluster.Auth.API_KEY
AUTH_USER_PASSWORD = Cluster.Auth.USER_PASSWORD


class ClusterNameMixin:
    """The cluster-name rule (console.services.check_cluster_name) on the name field (needs
    `self.project`)."""

    project: Project

    def clean_name(self) -> str:
        try:
            return services.check_cluster_name(self.project, self.cleaned_data["name"])
        except ServiceError as exc:
            raise forms.ValidationError(sentence(exc.message)) from None


def _name_field() -> forms.CharField:
    return forms.CharField(
        label="Cluster Name",
        max_length=NAME_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )


def _plan_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Plan", choices=Cluster.Plan.choices, initial=Cluster.Plan.DEDICATED
    )


class ConnectionForm(forms.Form):
    """Where an existing Milvus is and how to log in; also the Test connection request."""

    uri = forms.CharField(
        label="URI",
        max_length=Cluster._meta.get_field("uri").max_length,
        widget=forms.TextInput(attrs={"placeholder": "http://host:19530", "autocomplete": "off"}),
        help_text="The cluster's public endpoint: http://, https:// or tcp:// host and port.",
    )
    auth = forms.ChoiceField(
        label="Authentication",
        choices=[(AUTH_API_KEY, "API Key"), (AUTH_USER_PASSWORD, "Username and Password")],
        initial=AUTH_API_KEY,
        widget=forms.RadioSelect,
    )
    api_key = forms.CharField(
        label="API Key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="Leave empty for a server without authentication.",
    )
    username = forms.CharField(
        label="Username",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )

    def __init__(self, *args, project: Project | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_uri(self) -> str:
        """A valid endpoint, and not one of the console's own local clusters: this project's
        are named (use them as they are); any other is refused at the connection seam
        (console.clients), whatever its spelling."""
        raw = self.cleaned_data["uri"]
        self._refuse_own_local_cluster(raw)
        try:
            return check_endpoint(Connection(uri=raw)).uri
        except EndpointRejected as exc:
            raise forms.ValidationError(exc.message[:1].upper() + exc.message[1:] + ".") from None

    def _refuse_own_local_cluster(self, raw: str) -> None:
        if self.project is None:
            return
        # An endpoint that does not parse is no local cluster: check_endpoint says what is wrong.
        for local in Cluster.objects.filter(project=self.project, kind=Cluster.Kind.LOCAL):
            if same_server(raw, local.uri):
                raise forms.ValidationError(
                    f"{Connection(uri=raw).address} is {local.name}, a local cluster of this "
                    "project that the console already runs: use it as it is, no need to register "
                    "it."
                )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("auth") == AUTH_USER_PASSWORD:
            if not data.get("username"):
                self.add_error("username", "Enter the username, or choose API Key.")
            if not data.get("password"):
                self.add_error("password", "Enter the password of this user.")
        return data

    def credentials(self) -> dict[str, str]:
        """token / username / password for the chosen authentication; the other one is dropped."""
        data = self.cleaned_data
        if data["auth"] == AUTH_USER_PASSWORD:
            return {"token": "", "username": data["username"], "password": data["password"]}
        return {"token": data["api_key"], "username": "", "password": ""}

    def connection(self) -> Connection:
        """The typed endpoint and credentials as the console's connection value."""
        return Connection(uri=self.cleaned_data["uri"], **self.credentials())

    def secrets(self) -> list[str]:
        """Every secret the user typed (valid or not), for redacting messages about them."""
        return [v for v in (self.data.get("api_key"), self.data.get("password")) if v]


class RegisterClusterForm(ClusterNameMixin, ConnectionForm):
    name = _name_field()
    plan = _plan_field()

    field_order = ["name", "plan", "uri", "auth", "api_key", "username", "password"]

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, project=project, **kwargs)


class CreateClusterForm(ClusterNameMixin, forms.Form):
    name = _name_field()
    plan = _plan_field()

    def __init__(self, *args, project: Project, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project


class DeleteClusterForm(forms.Form):
    """Deleting is typed out: the cluster's name must be entered exactly."""

    confirm_name = forms.CharField(label="Cluster Name", max_length=NAME_MAX)

    def __init__(self, *args, cluster: Cluster, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cluster = cluster

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.cluster.name:
            raise forms.ValidationError(f"Type {self.cluster.name} to confirm.")
        return value


class DropCollectionForm(forms.Form):
    """Dropping a collection is typed out: its name must be entered exactly."""

    confirm_name = forms.CharField(label="Collection Name", max_length=255)

    def __init__(self, *args, collection: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.collection = collection

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.collection:
            raise forms.ValidationError(f"Type {self.collection} to confirm: nothing was dropped.")
        return value
