"""The page for an error on our side: it tells the reader what to do and which request failed.

Django renders 400.html, 403.html, 403_csrf.html and 404.html itself; 500.html is rendered
here so it can name the request's id (config/request_context.py), which is in the log line of
the error and in the response's X-Request-ID, for whoever reports it. It reads nothing from the
database: the error may be the database.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

from config.request_context import current


def server_error(request: HttpRequest) -> HttpResponse:
    """500 with the request id; a plain text answer if even the template cannot render."""
    context = current()
    request_id = context.request_id if context is not None else ""
    try:
        body = loader.get_template("500.html").render({"request_id": request_id})
    except Exception:  # the error page must not fail in its turn
        return HttpResponseServerError(
            f"Server error. Request id: {request_id}", content_type="text/plain"
        )
    return HttpResponseServerError(body)
