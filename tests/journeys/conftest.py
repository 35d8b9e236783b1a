"""Fixtures of the browser journeys: the `page` and `console_errors` fixtures come from
tests/browser.py (through tests/conftest.py); screenshots go where tests/journeys/screenshots.py
says."""
