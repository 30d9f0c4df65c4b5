"""Pre/post-deployment checks as the exporter sees them, read-only: which checks a deployment
asks for (keptn), when they are due (lifecycle), task outcomes from the Job watch (tasks),
evaluations against Prometheus/Thanos (engine, prometheus, targets), and the one object the
exporter wires in (checks.KeptnChecks)."""
