"""The HTTP API and the reviewer console: ``create_app`` (:mod:`serving.http.app`), one router per
resource (:mod:`serving.http.routes`), the micro-batcher in front of the model
(:mod:`serving.http.microbatcher`), schemas, settings, metrics and the error shape.

Nothing here imports :mod:`training` (a test checks); the ``notecheck`` command that also trains
is composed in :mod:`serving.cli`.
"""
