"""One router per resource: health, moderation, model, policy, metrics, docs, and the reviewer
console (the page, and its explain/upload/feedback API), and the review queue (queue, notes)."""

from __future__ import annotations

from serving.http.routes import (
    console,
    docs,
    feedback,
    health,
    metrics,
    model,
    moderate,
    pictures,
    policy,
    queue,
)

__all__ = ["ROUTERS"]

ROUTERS = (health.router, moderate.router, model.router, policy.router, metrics.router,
           docs.router, console.router, feedback.router, queue.router, pictures.router)
