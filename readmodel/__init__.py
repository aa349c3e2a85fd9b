"""The read model: every business fact biztrace shows, defined once as SQL plus a typed result.

The alert loop, the dashboard, the CLI and the HTTP API ask it and compute no business fact of
their own. It imports only the store and the configuration.
"""
