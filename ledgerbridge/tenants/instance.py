"""The production Dagster instance (dagster.yaml) for many tenants: PostgreSQL storage, a queued
run coordinator with limits, and the run launcher the deployment chooses.

Written as text (this package does not import Dagster); `ledgerbridge tenants instance` prints it.

Limits (the queued run coordinator holds a run until it fits all of them):
- global: `max_concurrent_runs`, what the machine (or cluster quota) carries;
- per tenant: tag `dagster/partition` (every run of a tenant carries it, backfills too), so one
  tenant with a burst of events cannot take every slot;
- per tenant and entity: tag `ledgerbridge/tenant_entity` ("<tenant>:<entity>"), limit 1, so two
  runs never reconcile the same entity of the same tenant at once.

Launchers:
- default: runs as processes beside the code location (one machine, docker-compose);
- docker: each run in its own container from the code location's image (dagster-docker), one VM
  with more isolation between runs;
- k8s: each run a Kubernetes Job (dagster-k8s). With Dagster's Helm chart the chart writes the
  instance itself: use deploy/helm/values.yaml instead of this file.
Executors (the steps inside one run) are a code location choice: LEDGERBRIDGE_EXECUTOR
(pipelines/tenants.py), where `celery` spreads steps over Celery workers.
"""

from __future__ import annotations

from typing import Any

import yaml

PARTITION_TAG = "dagster/partition"
TENANT_ENTITY_TAG = "ledgerbridge/tenant_entity"
STORAGE_URL_VARIABLE = "DAGSTER_PG_URL"  # postgresql://user:password@host:5432/dagster (psycopg2 form)
LAUNCHERS = ("default", "docker", "k8s")


def run_coordinator(max_runs: int, per_tenant: int, per_tenant_entity: int = 1,
                    dequeue_seconds: int = 1) -> dict[str, Any]:
    for name, value in (("max_runs", max_runs), ("per_tenant", per_tenant), ("per_tenant_entity", per_tenant_entity)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    return {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": {
            "max_concurrent_runs": max_runs,
            "dequeue_interval_seconds": dequeue_seconds,
            "dequeue_use_threads": True,
            "tag_concurrency_limits": [
                {"key": PARTITION_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": per_tenant},
                {"key": TENANT_ENTITY_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": per_tenant_entity},
            ],
        },
    }


def run_launcher(kind: str) -> dict[str, Any] | None:
    if kind == "default":
        return None  # Dagster's DefaultRunLauncher
    if kind == "docker":
        return {
            "module": "dagster_docker",
            "class": "DockerRunLauncher",
            "config": {
                "env_vars": ["DAGSTER_PG_URL", "LEDGERBRIDGE_HUB_URL", "LEDGERBRIDGE_TENANTS_DIR"],
                "network": {"env": "LEDGERBRIDGE_DOCKER_NETWORK"},
                "container_kwargs": {"volumes": ["ledgerbridge-tenants:/tenants"]},
            },
        }
    if kind == "k8s":
        return {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": {
                "service_account_name": "dagster",
                "job_namespace": {"env": "LEDGERBRIDGE_K8S_NAMESPACE"},
                "instance_config_map": "dagster-instance",
                "env_secrets": ["ledgerbridge-secrets"],
                "load_incluster_config": True,
            },
        }
    raise ValueError(f"run launcher {kind!r}: choose one of {', '.join(LAUNCHERS)}")


def instance_config(*, launcher: str = "default", max_runs: int = 10, per_tenant: int = 2,
                    per_tenant_entity: int = 1, storage_url_env: str = STORAGE_URL_VARIABLE,
                    sensor_workers: int = 4) -> dict[str, Any]:
    """dagster.yaml as data. The storage URL stays in the environment (it holds a password)."""
    config: dict[str, Any] = {
        "storage": {"postgres": {"postgres_url": {"env": storage_url_env}}},
        "run_coordinator": run_coordinator(max_runs, per_tenant, per_tenant_entity),
        # Sensors of many tenants: evaluated in threads, so one slow tenant's system does not hold the rest.
        "sensors": {"use_threads": True, "num_workers": sensor_workers},
        "schedules": {"use_threads": True, "num_workers": 2},
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 300},
        "telemetry": {"enabled": False},
    }
    launch = run_launcher(launcher)
    if launch is not None:
        config["run_launcher"] = launch
    return config


def instance_yaml(**kw: Any) -> str:
    header = ("# The ledgerbridge production instance (ledgerbridge tenants instance). Storage URL in "
              f"${kw.get('storage_url_env', STORAGE_URL_VARIABLE)}.\n")
    return header + yaml.safe_dump(instance_config(**kw), sort_keys=False)
