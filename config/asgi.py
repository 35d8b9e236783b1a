"""ASGI entry point: Django, and the MCP server for AI agents at /mcp/ (agents/http.py).

Production serves this with an ASGI server (`uvicorn config.asgi:application`) when agents
use MCP over HTTP; the WSGI entry point (gunicorn, config/wsgi.py) serves everything but /mcp/.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

# Imported once Django is set up: the MCP app reads models.
from agents.http import mcp_http_app, route  # noqa: E402
from config.memory import install as install_gc_freeze  # noqa: E402

install_gc_freeze()

application = route(django_application, mcp_http_app())
