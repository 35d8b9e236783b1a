from django.urls import path

from skills import views

app_name = "skills"
urlpatterns = [
    path("skills/", views.overview, name="overview"),
    path("skills/rebuild/", views.rebuild_all, name="rebuild_all"),
    path("colleagues/<slug:slug>/skill/", views.package, name="package"),
    path("colleagues/<slug:slug>/skill/diff/", views.diff, name="diff"),
    path("colleagues/<slug:slug>/skill/download/", views.download, name="download"),
    path("colleagues/<slug:slug>/skill/build/", views.build, name="build"),
    path("colleagues/<slug:slug>/skill/corrections/", views.correct, name="correct"),
    path(
        "colleagues/<slug:slug>/skill/corrections/<int:correction_id>/withdraw/",
        views.withdraw,
        name="withdraw",
    ),
    path(
        "colleagues/<slug:slug>/skill/versions/<int:number>/restore/", views.restore, name="restore"
    ),
    path("colleagues/<slug:slug>/skill/style-check/", views.style_check, name="style_check"),
]
