"""recsvc: the online recommendation service (Flask, behind gunicorn, reading from Redis).

`recsvc.app.create_app` builds the app; `recsvc.wsgi:app` is the gunicorn entry point.
"""
