"""Input from outside the cluster over HTTP: CI changes and Alertmanager alerts, into the
model (``POST /api/v1/changes``, ``POST /api/v1/alerts``)."""
