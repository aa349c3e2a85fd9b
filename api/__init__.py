"""biztrace's HTTP API: every question and action of the read model, over HTTP, with tokens and roles.

Served by every long-running biztrace process on a port of its own (``--api-port``, 8502), its
OpenAPI document at ``/api/v1/openapi.json``. It computes nothing itself: every answer comes from
:mod:`biztrace.readmodel`, so the API, the dashboard and the CLI cannot disagree.
"""
