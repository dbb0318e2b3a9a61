"""REST API v2 (DESIGN §7): the shared pieces in `console.api.base`; the NinjaAPI that mounts the
endpoints is `migrations_app.api_site`, above the endpoints' own modules (`migrations_app/api.py`,
`jobs/api.py`).
"""
