"""Forms of the wizard's steps. They only validate what was typed or picked against the
choices the view offers; the view stores it in the draft and the service decides the rest.

Choice lists come from the view (what the user may see right now), so a stale or guessed id
is refused here and never reaches the draft.
"""

from __future__ import annotations

from django import forms

from console.clusters.forms import ConnectionForm
from console.models import Cluster
from migrations_app.engine.model import CollectionInfo
from migrations_app.engine.names import invalid_name

EXISTING, NEW = "existing", "new"
OFFLINE = "offline"


class StartForm(forms.Form):
    """In Current Organization, first dialog. `refused` maps the ids of source clusters shown
    disabled to the reason (templates/migrations/_source_cluster.html renders the select)."""

    source_cluster = forms.ChoiceField(label="Source Cluster")
    source_db = forms.ChoiceField(label="Source Database")
    migrate_to = forms.ChoiceField(
        label="Migrate to",
        choices=[(EXISTING, "Existing Cluster"), (NEW, "New Cluster")],
        initial=EXISTING,
        widget=forms.RadioSelect,
    )
    migration_type = forms.ChoiceField(
        label="Migration Type",
        choices=[(OFFLINE, "Offline Migration")],
        initial=OFFLINE,
        widget=forms.RadioSelect,
    )

    def __init__(
        self,
        *args,
        clusters: list[Cluster],
        databases: list[str],
        refused: dict[str, str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.refused = refused or {}
        self.fields["source_cluster"].choices = [
            (c.pk, f"{c.name} ({c.get_plan_display()})") for c in clusters
        ]
        self.fields["source_db"].choices = [(db, db) for db in databases]

    def full_clean(self) -> None:
        super().full_clean()
        # A refused cluster is not among the valid choices: say why instead of "not valid".
        chosen = self.data.get("source_cluster", "")
        if chosen in self.refused:
            self.errors.pop("source_cluster", None)
            self.add_error("source_cluster", self.refused[chosen])


class TargetDatabaseForm(forms.Form):
    """Target Database (an existing database of the target cluster or a new name, created by
    the job; empty: the source database's name) and Load after migration: the target step of
    both flows. The name is checked by the engine's own rule."""

    target_db = forms.CharField(
        label="Target Database",
        max_length=255,
        required=False,
        help_text=(
            "Choose a database of the target cluster, or type a new name: the job creates it."
        ),
    )
    load_after = forms.BooleanField(
        label="Load after migration",
        required=False,
        help_text="Load the target collections when they are verified, ready to search.",
    )

    def clean_target_db(self) -> str:
        name = self.cleaned_data.get("target_db", "").strip()
        problem = invalid_name(name, "target database") if name else None
        if problem:
            raise forms.ValidationError(problem.message[:1].upper() + problem.message[1:] + ".")
        return name


class TargetForm(TargetDatabaseForm):
    """Target Project plus Target Cluster (Existing Cluster) or Cluster Name (New Cluster).

    `refused` maps the ids of clusters shown disabled to the reason; choosing one anyway
    (a crafted POST) gets that reason as the error.
    """

    target_project = forms.ChoiceField(label="Target Project")
    target_cluster = forms.ChoiceField(label="Target Cluster", required=False)
    cluster_name = forms.CharField(
        label="Cluster Name", max_length=Cluster._meta.get_field("name").max_length, required=False
    )

    def __init__(
        self,
        *args,
        projects,
        allowed: list[Cluster],
        refused: dict[str, str],
        new_cluster: bool,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.new_cluster = new_cluster
        self.refused = refused
        self.fields["target_project"].choices = [(p.pk, p.name) for p in projects]
        self.fields["target_cluster"].choices = [("", "—")] + [(c.pk, c.name) for c in allowed]
        self.fields["target_cluster"].required = not new_cluster
        self.fields["cluster_name"].required = new_cluster

    def clean_target_cluster(self) -> str:
        return self.cleaned_data.get("target_cluster", "")

    def full_clean(self) -> None:
        super().full_clean()
        # A refused cluster is not among the valid choices: say why instead of "not valid".
        chosen = self.data.get("target_cluster", "")
        if not self.new_cluster and chosen in self.refused:
            self.errors.pop("target_cluster", None)
            self.add_error("target_cluster", self.refused[chosen])


class CollectionsForm(forms.Form):
    """The collections of the source database to migrate (entity counts shown beside)."""

    collections = forms.MultipleChoiceField(
        label="Collections",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one collection to migrate."},
    )

    def __init__(self, *args, infos: list[CollectionInfo], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["collections"].choices = [(i.name, i.name) for i in infos]


class ConnectForm(ConnectionForm):
    """Connect to Data Source: Endpoint and Authentication (API Key or Username and Password).

    With `stored` (the draft's auth method whose secret is kept encrypted), an empty secret
    means "keep the stored one": Back never needs the secret rendered into the page.
    """

    def __init__(self, *args, stored: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stored = stored
        self.fields["uri"].label = "Endpoint"
        self.fields[
            "uri"
        ].help_text = "The source's endpoint: http://, https:// or tcp:// host and port."
        self.fields["api_key"].help_text = ""
        if stored == ConnectionForm.base_fields["auth"].choices[0][0]:
            self.fields["api_key"].help_text = "Leave empty to keep the API key entered before."
        elif stored:
            self.fields["password"].help_text = "Leave empty to keep the password entered before."

    def clean(self) -> dict:
        data = forms.Form.clean(self)
        keeps = self.stored and data.get("auth") == self.stored
        if data.get("auth") == Cluster.Auth.USER_PASSWORD:
            if not data.get("username"):
                self.add_error("username", "Enter the username, or choose API Key.")
            if not data.get("password") and not keeps:
                self.add_error("password", "Enter the password of this user.")
        return data


class SourceTargetForm(TargetDatabaseForm):
    """Select Source and Target (In Other Organization)."""

    source_db = forms.ChoiceField(label="Source Database")
    collections = forms.MultipleChoiceField(
        label="Collections",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one collection to migrate."},
    )
    target_project = forms.ChoiceField(label="Target Project")
    target_cluster = forms.ChoiceField(label="Target Cluster")

    def __init__(
        self,
        *args,
        databases: list[str],
        infos: list[CollectionInfo],
        projects,
        allowed: list[Cluster],
        refused: dict[str, str],
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.refused = refused
        self.fields["source_db"].choices = [(db, db) for db in databases]
        self.fields["collections"].choices = [(i.name, i.name) for i in infos]
        self.fields["target_project"].choices = [(p.pk, p.name) for p in projects]
        self.fields["target_cluster"].choices = [("", "—")] + [(c.pk, c.name) for c in allowed]

    def full_clean(self) -> None:
        super().full_clean()
        chosen = self.data.get("target_cluster", "")
        if chosen in self.refused:
            self.errors.pop("target_cluster", None)
            self.add_error("target_cluster", self.refused[chosen])


class CollectionSchemaForm(forms.Form):
    """Configure Schema for one collection (prefixed per collection)."""

    target_name = forms.CharField(label="Target Collection Name", max_length=255, required=False)
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    dynamic_field = forms.BooleanField(label="Dynamic Field", required=False)
    partition_key = forms.ChoiceField(label="Partition Key", required=False)

    def __init__(self, *args, info: CollectionInfo, key_fields: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.info = info
        self.fields["partition_key"].choices = [("", "None")] + [(k, k) for k in key_fields]
