from django.urls import path

from knowledge import views, views_privacy

app_name = "knowledge"
urlpatterns = [
    path("search/", views.search, name="search"),
    path("items/<int:pk>/", views.item_detail, name="item"),
    path("privacy/", views_privacy.my_data, name="my_data"),
    path("privacy/items/<int:item_id>/redact/", views_privacy.ask_redaction, name="ask_redaction"),
    path("privacy/requests/", views_privacy.redaction_queue, name="redaction_queue"),
    path("privacy/requests/<int:pk>/", views_privacy.decide_redaction, name="decide_redaction"),
]
