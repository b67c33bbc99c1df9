"""Generated documents: final report, model card, slides, diagrams and API docs, every number from an artifact."""
