from django import forms


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class WebhookForm(forms.Form):
    """The project's webhook URL; what it may point at is console.webhooks' to decide."""

    url = forms.CharField(
        label="Webhook URL",
        max_length=2000,
        help_text="When a job of this project ends, it is POSTed here as JSON, signed with "
        "HMAC-SHA256 in the X-Signature header. Saving makes a new signing secret.",
        widget=forms.TextInput(
            attrs={"placeholder": "https://example.com/hooks/migrations", "inputmode": "url"}
        ),
    )
