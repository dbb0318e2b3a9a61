"""The browser wizard's two flows (In Current Organization, In Other Organization).

Separate step views over a server-side draft (migrations_app.models.WizardDraft). The wizard
only collects and shows: every decision is migrations_app.service's.
"""
