from django.urls import path

from offboarding import views

app_name = "offboarding"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("cases/", views.open_new_case, name="open_case"),
    path("cases/<int:pk>/", views.case_page, name="case"),
    path("cases/<int:pk>/move/", views.move_case, name="move"),
    path("cases/<int:pk>/steps/<slug:step>/", views.tick_step, name="tick_step"),
    path("cases/<int:pk>/capture/", views.start_capture, name="capture"),
    path("cases/<int:pk>/successors/", views.add_successor, name="successor"),
    path("cases/<int:pk>/retention/", views.retain, name="retention"),
    path("cases/<int:pk>/review/", views.review_page, name="review"),
    path("cases/<int:pk>/review/items/<int:item_id>/redact/", views.redact, name="redact"),
    path("cases/<int:pk>/review/approve/", views.approve, name="approve"),
    path("cases/<int:pk>/publish/", views.publish, name="publish"),
    path("template/", views.template, name="template"),
    path("bus-factor/", views.bus_factor, name="bus_factor"),
]
