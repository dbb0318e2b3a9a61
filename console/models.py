"""The console's own domain: users, organizations, projects, memberships, clusters, API keys."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models, transaction
from django.utils import timezone

from console import ids
from console.connections import Connection
from console.crypto import decrypt_json, encrypt_json
from console.errors import Conflict


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("an email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    def __str__(self) -> str:
        return self.email


class Organization(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.org_id, editable=False)
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.project_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    # Notifications (console.webhooks): when a job of the project ends, this URL gets it as a
    # signed POST. The signing secret is stored only encrypted and shown once, when it is made.
    webhook_url = models.CharField(max_length=2000, blank=True, default="")
    webhook_secret_enc = models.TextField(blank=True, default="")
    # Whose connection limit the deliveries count against (None: set by an operator's command).
    webhook_set_by = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="unique_project_name")
        ]
        ordering = ["organization__name", "name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in an organization (owner or member)."""

    class Role(models.TextChoices):
        ORG_OWNER = "ORG_OWNER", "Organization Owner"
        ORG_MEMBER = "ORG_MEMBER", "Organization Member"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ORG_MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="unique_org_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} of {self.organization}"


class ProjectMembership(models.Model):
    """A user's role in one project of an organization they belong to."""

    class Role(models.TextChoices):
        PROJECT_ADMIN = "PROJECT_ADMIN", "Project Admin"
        PROJECT_READ_WRITE = "PROJECT_READ_WRITE", "Read-Write"
        PROJECT_READ_ONLY = "PROJECT_READ_ONLY", "Read-Only"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="project_memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="unique_project_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} in {self.project}"


class Cluster(models.Model):
    """A Milvus deployment the console can read from and write to.

    Credentials are stored only encrypted (`credentials_enc`); use `credentials` to read them
    in the engine, and never put them in a template, a log line or an API response.
    """

    class Plan(models.TextChoices):
        FREE = "FREE", "Free"
        SERVERLESS = "SERVERLESS", "Serverless"
        DEDICATED = "DEDICATED", "Dedicated"

    class Kind(models.TextChoices):
        LOCAL = "LOCAL", "Local"
        EXTERNAL = "EXTERNAL", "External"

    class Status(models.TextChoices):
        CREATING = "CREATING", "Creating"
        RUNNING = "RUNNING", "Running"
        STOPPED = "STOPPED", "Stopped"
        UNREACHABLE = "UNREACHABLE", "Unreachable"

    # A server runs (or ran and may answer again): worth contacting live on a page, and a
    # cluster a migration may start from or into. CREATING and STOPPED ones have no server.
    LIVE_STATUSES = (Status.RUNNING, Status.UNREACHABLE)

    class Auth(models.TextChoices):
        NONE = "NONE", "None"
        API_KEY = "API_KEY", "API Key"
        USER_PASSWORD = "USER_PASSWORD", "Username and Password"

    id = models.CharField(primary_key=True, max_length=40, default=ids.cluster_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="clusters")
    name = models.CharField(max_length=64)
    plan = models.CharField(max_length=20, choices=Plan.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    uri = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    auth = models.CharField(max_length=20, choices=Auth.choices, default=Auth.NONE)
    credentials_enc = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATING)
    status_message = models.CharField(max_length=500, blank=True)
    server_version = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_cluster_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def credentials(self) -> dict:
        """{"token": …} or {"username": …, "password": …} or {} — decrypted on demand."""
        return decrypt_json(self.credentials_enc)

    def set_credentials(self, *, token: str = "", username: str = "", password: str = "") -> None:
        if token:
            self.auth, data = self.Auth.API_KEY, {"token": token}
        elif username:
            self.auth, data = self.Auth.USER_PASSWORD, {"username": username, "password": password}
        else:
            self.auth, data = self.Auth.NONE, {}
        self.credentials_enc = encrypt_json(data) if data else ""

    def connection(self) -> Connection:
        """Where and as whom to reach this cluster (console.connections); decrypted on demand.

        Endpoints of external clusters were typed by a person: the endpoint rules apply on
        every use. Local clusters are the console's own servers.
        """
        creds = self.credentials
        return Connection(
            uri=self.uri,
            token=creds.get("token", ""),
            username=creds.get("username", ""),
            password=creds.get("password", ""),
            typed=self.kind == self.Kind.EXTERNAL,
        )

    @property
    def token(self) -> str | None:
        """The pymilvus token for this cluster: API key, "user:password", or None."""
        return self.connection().pymilvus_token

    def secrets(self) -> list[str]:
        """Every secret string of this cluster, for redaction."""
        return self.connection().secrets()


class ApiKey(models.Model):
    """A bearer key for the REST API; it acts with its user's roles. Only a hash is stored.

    A key with a `project` reaches only that project (console.api.base.check_key_scope):
    anything of another project is refused with 403, lists show only its project's rows.
    """

    PREFIX = "mmc_"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    # CASCADE, never SET_NULL: a scoped key must not outlive its project as an unscoped one.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str, project: Project | None = None) -> tuple[ApiKey, str]:
        """Create a key; returns (row, raw key). The raw key is never retrievable again.
        With `project` (one the caller loaded through console.access, so the user may see
        it) the key reaches that project only.

        Raises Conflict when the user already has a key of that name (case-insensitive): the
        name is how a user tells keys apart on the API Keys page and when deleting one; and
        when they hold API_KEYS_PER_USER keys already (each key has its own API_RATE_LIMIT, so
        keys without end would be a rate limit without end).
        """
        with transaction.atomic():
            # The user's row, locked: parallel creates count one after the other.
            User.objects.select_for_update().filter(pk=user.pk).first()
            limit = settings.API_KEYS_PER_USER
            if cls.objects.filter(user=user).count() >= limit:
                raise Conflict(
                    f"You already have {limit} API keys, the most one user may hold: delete "
                    "one you no longer use, then create the new one."
                )
            if cls.objects.filter(user=user, name__iexact=name).exists():
                raise Conflict(f"You already have an API key named {name!r}: choose another name.")
            raw = cls.PREFIX + secrets.token_urlsafe(32)
            key = cls.objects.create(
                user=user,
                name=name,
                key_prefix=raw[:10],
                key_hash=cls.hash_key(raw),
                project=project,
            )
        return key, raw

    @classmethod
    def free_name(cls, user: User, base: str) -> str:
        """`base`, or `base 2`, `base 3`, ... whichever this user has no key of yet."""
        taken = {n.lower() for n in cls.objects.filter(user=user).values_list("name", flat=True)}
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base} {n}"
        return name

    @classmethod
    def find(cls, raw: str) -> ApiKey | None:
        """The key `raw` is (with its user and project), if its user is active; marks it used."""
        key = (
            cls.objects.select_related("user", "project").filter(key_hash=cls.hash_key(raw)).first()
        )
        if key is None or not key.user.is_active:
            return None
        cls.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return key

    @classmethod
    def authenticate(cls, raw: str) -> User | None:
        key = cls.find(raw)
        return key.user if key is not None else None


class WebhookDelivery(models.Model):
    """One attempt to POST a job's end to its project's webhook: the delivery log of the
    project settings page. `job_id` is the job's id as text (the console does not import jobs;
    the log outlives a deleted job). `event_id` is the same for every attempt of one delivery
    (the X-Webhook-Id header, so a receiver can drop a repeat)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deliveries")
    job_id = models.CharField(max_length=40)
    job_status = models.CharField(max_length=20)
    event_id = models.CharField(max_length=40)
    attempt = models.PositiveSmallIntegerField()
    attempts = models.PositiveSmallIntegerField()  # how many it may take in all
    url = models.CharField(max_length=2000)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "-created_at"], name="delivery_project_time")]

    def __str__(self) -> str:
        return f"{self.job_id} attempt {self.attempt}: {self.outcome}"

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def outcome(self) -> str:
        """What the delivery log shows: the HTTP status, or the error."""
        if self.status_code is not None:
            return f"HTTP {self.status_code}" + (f" ({self.error})" if self.error else "")
        return self.error
