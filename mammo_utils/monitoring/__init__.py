"""Monitoring: input and score drift (:mod:`.drift`), labelled feedback (:mod:`.feedback`), retraining
triggers and the champion/challenger gate (:mod:`.retrain`)."""
