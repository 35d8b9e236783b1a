from django.urls import path

from answers import views

app_name = "answers"
urlpatterns = [
    path("colleagues/<slug:slug>/ask/", views.chat, name="chat"),
    path("colleagues/<slug:slug>/ask/<int:pk>/", views.chat, name="conversation"),
    path("answers/<int:turn_id>/feedback/", views.feedback, name="feedback"),
    path("who-knows/", views.who_knows_page, name="who_knows"),
    path("curation/feedback/", views.feedback_queue, name="feedback_queue"),
    path("curation/feedback/<int:feedback_id>/", views.review, name="review"),
]
