from django.urls import path

from slack_command import views

app_name = "slack_command"
urlpatterns = [
    path("commands/", views.command, name="command"),
    path("interactions/", views.interaction, name="interaction"),
]
