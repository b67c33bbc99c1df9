"""``GET /metrics``: Prometheus metrics, with the monitoring gauges refreshed on each scrape: drift of the latest
served inputs/scores against the model's reference, and accuracy on the labelled feedback."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response

from ....evaluation.drift import drift_report
from ..deps import ServiceState, service

router = APIRouter()


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def prometheus(request: Request) -> Response:
    state = service(request)
    if state.store is not None:
        await anyio.to_thread.run_sync(update_monitoring_gauges, state)
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)


def update_monitoring_gauges(state: ServiceState) -> None:
    """Drift of the latest served inputs/scores against the reference, and accuracy on labelled feedback."""
    metrics, settings = state.metrics, state.settings
    rolling = state.store.rolling_metrics(settings.drift_window)
    metrics.feedback_labelled.set(rolling["labelled"])
    metrics.feedback_positives.set(rolling["positives"])
    for key in ("sensitivity", "specificity", "auc", "pf1"):
        metrics.feedback_metric.labels(key).set(rolling[key])
    recent = state.store.recent_predictions(settings.drift_window)
    metrics.drift_window.set(len(recent))
    if state.reference is None or len(recent) < settings.drift_min:
        return
    report = drift_report(state.reference, recent, recent.probability)
    for feature, row in report.iterrows():
        metrics.drift_psi.labels(feature).set(row.psi)
        metrics.drift_ks_pvalue.labels(feature).set(row.ks_pvalue)
