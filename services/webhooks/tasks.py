"""The webhooks worker: the call made when a job ends (shared.engine.webhooks), on its own
queue, so that no receiver, however slow, holds up a stage.

    celery -A services.webhooks.tasks worker -Q webhooks --pool threads --prefetch-multiplier 1 -n webhooks@%h

Threads, not processes: a call mostly waits on its receiver. CATALOG_WEBHOOK_CONCURRENCY
(8) calls run at once, each within CATALOG_WEBHOOK_TIMEOUT_S; a command-line --concurrency
would override it.
"""

from shared.engine.celery_app import app
from shared.engine.webhooks import webhook_task
from shared.infra.settings import settings

__all__ = ["app", "webhook"]  # the app `celery -A` runs, and its task

app.conf.worker_concurrency = settings().webhook_concurrency
webhook = webhook_task()
