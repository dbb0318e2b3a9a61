"""REST API v2 (DESIGN §7): the NinjaAPI lives in `console.api.site`, shared pieces in
`console.api.base`; the endpoints live with their domain (`migrations_app/api.py`, `jobs/api.py`).
"""
