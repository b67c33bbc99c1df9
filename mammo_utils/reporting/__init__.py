"""Generated documents: final report, model card, slides, diagrams and API docs, every number from an artifact.

Top layer (with :mod:`mammo_utils.workflows`): it reads every stage's outputs, so it may import any package
below it (export for the champion's scores, serving for the OpenAPI document).
"""
