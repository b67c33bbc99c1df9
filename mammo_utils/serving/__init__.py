"""Serving layer: the one inference path (``inference``) that notebooks, the API and the web app share.

May import every layer below it (data, evaluation, modeling).
"""
