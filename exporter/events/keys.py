"""The annotation and label keys Daylight reads (and the launcher writes), in one place.

Identity keys are looked up in this order of sources: pod-template annotation, pod-template
label, workload annotation, workload label; within a key tuple the first key wins, so
``keptn.sh/*`` keys come before ``app.kubernetes.io/*`` ones.
"""

from __future__ import annotations

# --- identity (design §2) -----------------------------------------------------------------
WORKLOAD_KEYS = ("keptn.sh/workload", "app.kubernetes.io/name")
APP_KEYS = ("keptn.sh/app", "app.kubernetes.io/part-of")
VERSION_KEYS = ("keptn.sh/version", "app.kubernetes.io/version")
CONTAINER_KEY = "keptn.sh/container"
COMMIT_TIME_KEYS = ("daylight.dev/commit-time",)
COMMIT_SHA_KEYS = ("daylight.dev/commit-sha", "org.opencontainers.image.revision")
TRACEPARENT_KEYS = ("traceparent",)
ENVIRONMENT_LABEL = "daylight.dev/environment"

# --- what the controllers write --------------------------------------------------------------
DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
DEPLOYMENT_REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

# --- pre/post-deployment checks a workload asks for (Keptn's annotations) ----------------------
PRE_TASKS = ("keptn.sh/pre-deployment-tasks", "keptn.sh/pre-tasks")
POST_TASKS = ("keptn.sh/post-deployment-tasks", "keptn.sh/post-tasks")
PRE_EVALUATIONS = ("keptn.sh/pre-deployment-evaluations", "keptn.sh/pre-eval")
POST_EVALUATIONS = ("keptn.sh/post-deployment-evaluations", "keptn.sh/post-eval")
METADATA_KEY = "keptn.sh/metadata"
NAMESPACE_ENABLED = "keptn.sh/lifecycle-toolkit"

# --- task Jobs (the launcher writes them, the exporter reads them back) -----------------------
APP_KEY = "keptn.sh/app"
WORKLOAD_KEY = "keptn.sh/workload"
VERSION_KEY = "keptn.sh/version"
TASK_NAME_KEY = "keptn.sh/task-name"
MANAGED_BY = "app.kubernetes.io/managed-by"
LAUNCHER = "daylight-launcher"
PHASE_LABEL = "daylight.dev/task-phase"  # pre | post
OBJECT_LABEL = "daylight.dev/task-object"  # workload | app
RESULT_LABEL = "daylight.dev/task-result"  # "invalid" on a record of a task that never ran
FAILURE_ANNOTATION = "daylight.dev/task-failure"  # "<reason>: <message>" on such a record
KIND_ANNOTATION = "daylight.dev/workload-kind"
TASK_REVISION_ANNOTATION = "daylight.dev/workload-revision"
TRACEPARENT_ANNOTATION = "daylight.dev/traceparent"
