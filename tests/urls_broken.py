"""The console's URLs plus a view that raises, to see the 500 page."""

from django.urls import path

from console.urls import urlpatterns as console_urlpatterns


def broken(request):
    raise RuntimeError("a bug")


urlpatterns = [path("broken/", broken), *console_urlpatterns]
