"""The production stack, checked by parsing (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices

from genflow import search_attributes as sa
from genflow.cli import app as cli
from genflow.pipeline.sandbox import seccomp
from genflow.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if s.get("image") == "genflow:latest"}


def settings_variables() -> set[str]:
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        else:
            names.add(f"GENFLOW_{field_name.upper()}")
    return names


def test_every_genflow_service_runs_a_real_entry_point() -> None:
    commands = {command.name or command.callback.__name__ for command in cli.registered_commands}
    assert set(OURS) == {"migrate", "api", "worker", "sandbox-worker"}
    for name, service in OURS.items():
        program, subcommand, *_ = service["command"]
        assert program == "genflow", name
        assert subcommand in commands, (name, subcommand)
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("genflow", "api", "activities", "workflows", "migrations"):
        assert f"COPY {package} ./{package}" in dockerfile


def test_every_environment_variable_is_one_the_settings_read() -> None:
    known = settings_variables()
    for name, service in OURS.items():
        unknown = set(service["environment"]) - known
        assert not unknown, (name, unknown)
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "GENFLOW_JWT_SECRET"} <= set(
        OURS["api"]["environment"]
    )


def test_only_the_api_is_given_the_token_secret_and_the_image_runs_in_production() -> None:
    for name, service in OURS.items():
        has = "GENFLOW_JWT_SECRET" in service["environment"]
        assert has == (name == "api"), name  # the workers never check a token
        assert service["environment"]["GENFLOW_ENVIRONMENT"] == "production"
    assert OURS["api"]["environment"]["GENFLOW_JWT_SECRET"].startswith("${GENFLOW_JWT_SECRET:?")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ENV .*\bGENFLOW_ENVIRONMENT=production\b", dockerfile, re.M)
    # Nothing in the image's command or the service commands says development.
    assert "development" not in dockerfile.split("\nCMD")[-1]
    assert "GENFLOW_ENVIRONMENT" not in " ".join(" ".join(s["command"]) for s in OURS.values())


def published(service: dict[str, Any]) -> list[str]:
    """The host addresses a service's ports are published on ("" = every address)."""
    hosts = []
    for port in service.get("ports", []):
        host = re.match(r"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):", str(port))
        hosts.append(host.group(1) if host else "")
    return hosts


def test_the_temporal_ui_and_the_metrics_listen_on_loopback_only() -> None:
    ui = SERVICES["temporal-ui"]
    assert published(ui) == ["127.0.0.1"]
    assert ui["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"].endswith(":-true}")
    assert ui["environment"]["TEMPORAL_AUTH_ENABLED"] == "${TEMPORAL_AUTH_ENABLED:-false}"
    for name in ("worker", "sandbox-worker"):
        assert OURS[name]["environment"]["GENFLOW_WORKER_METRICS_HOST"] == "127.0.0.1"
        assert published(OURS[name]) == []
    for name, service in SERVICES.items():  # only the API is published on every address
        assert all(host == "127.0.0.1" for host in published(service)) or name == "api", name
    assert Settings.model_fields["worker_metrics_host"].default == "127.0.0.1"


def test_the_sandbox_worker_runs_under_genflows_seccomp_profile() -> None:
    options = OURS["sandbox-worker"]["security_opt"]
    assert "seccomp=unconfined" not in options
    (profile_path,) = [o.split("=", 1)[1] for o in options if o.startswith("seccomp=")]
    profile = json.loads((ROOT / profile_path).read_text())
    denied = {
        name
        for rule in profile["syscalls"]
        if rule["action"] == "SCMP_ACT_ERRNO"
        for name in rule["names"]
    }
    allowed = {
        name
        for rule in profile["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW"
        for name in rule["names"]
    }
    # What bubblewrap needs to build a sandbox is allowed, each with its reason; the rest
    # of what the sandbox's own filter refuses is refused for the whole container too.
    assert allowed == {"unshare", "mount", "umount2", "pivot_root", "chroot"}
    assert all(rule.get("comment") for rule in profile["syscalls"])
    assert set(seccomp.DENIED) - allowed <= denied
    assert {"setns", "keyctl", "bpf", "perf_event_open", "ptrace", "init_module"} <= denied


def test_search_attributes_match_the_code() -> None:
    command = " ".join(SERVICES["temporal-setup"]["command"])
    declared = set(re.findall(r"--name (\w+) --type (\w+)", command))
    kinds = {"KEYWORD": "Keyword", "DOUBLE": "Double"}
    assert declared == {(key.name, kinds[key.indexed_value_type.name]) for key in sa.ALL}


def test_migrations_run_once_before_the_api_and_workers_scale() -> None:
    for name in ("api", "worker", "sandbox-worker"):
        depends = OURS[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["temporal-setup"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in OURS[name]
    for name in ("worker", "sandbox-worker"):  # --scale worker=N, sandbox-worker=M
        assert "ports" not in OURS[name] and "container_name" not in OURS[name]
    assert OURS["migrate"]["restart"] == "no"
    assert all("healthcheck" in SERVICES[name] for name in ("postgres", "temporal"))
    temporal = SERVICES["temporal"]["environment"]
    assert temporal["DB"].startswith("postgres") and temporal["POSTGRES_SEEDS"] == "postgres"


def test_the_two_kinds_of_workers_serve_every_task_queue() -> None:
    roles = {name: OURS[name]["environment"].get("GENFLOW_WORKER_ROLE") for name in OURS}
    assert roles == {
        "migrate": None,
        "api": None,
        "worker": "orchestration",
        "sandbox-worker": "sandbox",
    }
    assert OURS["sandbox-worker"]["environment"]["GENFLOW_SANDBOX_SLOTS"]


def test_the_temporal_server_supports_fairness_and_has_it_switched_on() -> None:
    server = SERVICES["temporal"]
    name, _, tag = server["image"].partition(":")
    assert name == "temporalio/server"
    assert tuple(int(part) for part in tag.split(".")[:2]) >= (1, 29)  # fairness
    mounted = {
        inside: ROOT / source.removeprefix("./")
        for source, inside, *_ in (volume.split(":") for volume in server["volumes"])
    }
    config_path = "/etc/temporal/" + server["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    config = yaml.safe_load(mounted[config_path].read_text())
    assert config["matching.enableFairness"][0]["value"] is True
    assert config["matching.numTaskqueueReadPartitions"][0]["value"] == 1


def test_every_file_a_service_mounts_from_the_repository_exists() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
