"""Serving: the one inference path (:mod:`.inference`: a file -> the cache's recipe -> the model -> probability,
boxes, heat-map), the REST API (:mod:`.api`, a package: settings, dependencies, middleware, one router per
resource), its Prometheus metrics (:mod:`.metrics`), the HTTP client (:mod:`.client`), the Streamlit app
(:mod:`.app`) and ``mammo demo`` (:mod:`.demo`).

May import: data, evaluation, modeling and, in its own layer, detection (boxes), export (runtimes) and
monitoring (the feedback store). Nothing below the top layers imports serving.
"""
