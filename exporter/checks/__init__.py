"""Pre/post-deployment checks (Keptn tasks and evaluations): pure bookkeeping, fed by the
model's facts. What runs them lives elsewhere: the launcher writes task Jobs, evaluations
query Prometheus."""
