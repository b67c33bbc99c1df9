"""One router per resource: :mod:`.health` (``/health``, ``/ready``), :mod:`.model` (``/v1/model``),
:mod:`.metrics` (``/metrics``), :mod:`.predict` (``/v1/predict``), :mod:`.studies` (``/v1/studies``),
:mod:`.feedback` (``/v1/feedback``) and :mod:`.predictions` (``/v1/predictions/{request_id}``)."""

from . import feedback, health, metrics, model, predict, predictions, studies

#: In the order they appear in the OpenAPI document.
ROUTERS = [
    health.router,
    model.router,
    metrics.router,
    predict.router,
    feedback.router,
    predictions.router,
    studies.router,
]
