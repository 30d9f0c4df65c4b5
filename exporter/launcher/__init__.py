"""The task job launcher (``daylight launcher``): the only code that writes to the cluster.

Keptn task definitions become Kubernetes Jobs (render), named deterministically (naming),
created through its own small write client (writer) by the service that follows deployments
through the same informers and model as the exporter (service); main holds the process."""
