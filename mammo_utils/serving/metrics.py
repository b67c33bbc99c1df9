"""Prometheus metrics of the service, on a registry of their own (one per app, so tests can build several).

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` histograms); the alert rules and the
Grafana dashboard in ``deploy/`` refer to them by these names:

- ``mammo_requests_total{route, method, status}``: ``route`` is always the route's template (``/v1/predict``,
  ``unmatched`` for an unknown path), never the raw path; unhandled errors count as ``status="500"``
- ``mammo_request_latency_seconds{route, explain}`` (histogram; ``explain`` "true"/"false": Grad-CAM asked)
- ``mammo_stage_latency_seconds{stage}`` (histogram; ``spool``, ``hash``, ``decode``, ``crop``, ``model``,
  ``drift_features``, ``detector``, ``gradcam``: :data:`~mammo_utils.serving.inference.STAGES`)
- ``mammo_in_flight_requests``
- ``mammo_prediction_score`` (histogram of probabilities: score drift)
- ``mammo_input_bytes`` (histogram of upload sizes)
- ``mammo_decode_errors_total{reason}`` (``empty``, ``not_an_image``, ``dicom``, ``image``)
- ``mammo_drift_psi{feature}`` / ``mammo_drift_ks_pvalue{feature}`` (image features and ``score``) and
  ``mammo_drift_window_size``: the latest served predictions against the model's ``reference.json``
- ``mammo_inference_timeouts_total``: inferences that ran past ``MAMMO_INFERENCE_TIMEOUT_S`` (answered 503)
- ``mammo_feedback_total{label}``, ``mammo_feedback_labelled``, ``mammo_feedback_positives`` (labelled cancers
  in the rolling window), ``mammo_feedback_metric{metric}``
  (``sensitivity``, ``specificity``, ``auc``, ``pf1`` over the rolling window of labelled predictions)
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no ``*_created`` timestamp series: they double the exposition for nothing here

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 10)) + (1.0,)
_BYTES_BUCKETS = (1e4, 1e5, 1e6, 5e6, 1e7, 3e7, 1e8)


class ServiceMetrics:
    """The service's metrics on their own :class:`CollectorRegistry`."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("mammo_requests", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "mammo_request_latency_seconds",
            "End-to-end request latency",
            ["route", "explain"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_latency = Histogram(
            "mammo_stage_latency_seconds",
            "Latency per stage of a scored upload",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.timeouts = Counter(
            "mammo_inference_timeouts", "Inferences that ran past MAMMO_INFERENCE_TIMEOUT_S", registry=r
        )
        self.in_flight = Gauge("mammo_in_flight_requests", "Requests being handled", registry=r)
        self.scores = Histogram(
            "mammo_prediction_score", "Predicted cancer probability", buckets=_SCORE_BUCKETS, registry=r
        )
        self.input_bytes = Histogram("mammo_input_bytes", "Upload size in bytes", buckets=_BYTES_BUCKETS, registry=r)
        self.decode_errors = Counter("mammo_decode_errors", "Uploads that could not be read", ["reason"], registry=r)
        self.drift_psi = Gauge(
            "mammo_drift_psi", "PSI of served inputs/scores vs the reference", ["feature"], registry=r
        )
        self.drift_ks_pvalue = Gauge(
            "mammo_drift_ks_pvalue", "KS p-value of served inputs/scores vs the reference", ["feature"], registry=r
        )
        self.drift_window = Gauge("mammo_drift_window_size", "Served predictions in the drift window", registry=r)
        self.feedback = Counter("mammo_feedback", "Ground-truth labels received", ["label"], registry=r)
        self.feedback_labelled = Gauge(
            "mammo_feedback_labelled", "Labelled predictions in the rolling window", registry=r
        )
        self.feedback_positives = Gauge(
            "mammo_feedback_positives", "Labelled cancers in the rolling window of labelled predictions", registry=r
        )
        self.feedback_metric = Gauge(
            "mammo_feedback_metric", "Rolling metric on labelled feedback (NaN until defined)", ["metric"], registry=r
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
