"""The console's URLs plus a stand-in for the REST API's OpenAPI document (URL name
`api-openapi`), for pages that mention the API only once it exists."""

from django.http import JsonResponse
from django.urls import path

from console.urls import urlpatterns as console_urlpatterns

urlpatterns = [
    path("v2/openapi.json", lambda request: JsonResponse({}), name="api-openapi"),
    *(p for p in console_urlpatterns if getattr(p, "name", None) != "api-openapi"),
]
