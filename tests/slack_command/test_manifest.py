"""The app manifest installs exactly what the command uses."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml
from django.urls import resolve

from slack_command import views

MANIFEST = Path(__file__).resolve().parents[2] / "slack_command" / "manifest.yml"


def test_the_manifest_declares_the_command_its_urls_and_only_the_scopes_used() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/colleague"
    assert command["should_escape"] is True  # mentions arrive as <@U…>, parsed by id
    assert resolve(urlsplit(command["url"]).path).func is views.command
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert resolve(urlsplit(interactivity["request_url"]).path).func is views.interaction
    # commands; users.info with the address (slack_command.people); chat.postMessage for
    # offboarding notices, which use the same SLACK_BOT_TOKEN.
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "users:read",
        "users:read.email",
        "chat:write",
    }
    assert manifest["settings"]["org_deploy_enabled"] is False
