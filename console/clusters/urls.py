from django.urls import path

from console.clusters import views

urlpatterns = [
    path("", views.cluster_list, name="clusters"),
    path("register/", views.cluster_register, name="cluster_register"),
    path("create/", views.cluster_create, name="cluster_create"),
    path("test-connection/", views.cluster_test_connection, name="cluster_test_connection"),
    path("<str:cluster_id>/", views.cluster_detail, name="cluster_detail"),
    path("<str:cluster_id>/status/", views.cluster_status, name="cluster_status"),
    path(
        "<str:cluster_id>/databases/<str:db>/collections/<str:name>/",
        views.cluster_collection,
        name="cluster_collection",
    ),
    path(
        "<str:cluster_id>/databases/<str:db>/collections/<str:name>/drop/",
        views.cluster_collection_drop,
        name="cluster_collection_drop",
    ),
    path("<str:cluster_id>/delete/", views.cluster_delete, name="cluster_delete"),
]
