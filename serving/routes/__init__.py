"""One router per resource: health, moderation, model, policy, metrics, docs."""

from __future__ import annotations

from serving.routes import docs, health, metrics, model, moderate, policy

__all__ = ["ROUTERS"]

ROUTERS = (health.router, moderate.router, model.router, policy.router, metrics.router,
           docs.router)
