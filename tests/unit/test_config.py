from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stream_segmenter.config import (
    Settings,
    kafka_passthrough,
    load_settings,
    refuse_owned_overrides,
)
from stream_segmenter.errors import ConfigError


def stream_segmenter(
    command: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The command line as a process of its own, with only `env` (and PATH) set."""
    return subprocess.run(
        [sys.executable, "-m", "stream_segmenter", *command],
        env={"PATH": "/usr/bin:/bin", **env}, input=stdin, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_TEXT_CHARS", "abc"),
        ("MAX_TEXT_CHARS", "0"),
        ("BATCH_SIZE", "-1"),
        ("MAX_CACHE_SIZE", "ten"),
        ("DEFAULT_LANG", "English"),
        ("SPACY_PIPELINES", "en:en_core_web_sm"),
        ("PROCESSING_GUARANTEE", "sometimes"),
        ("LOG_LEVEL", "LOUD"),
        ("KAFKA_BOOTSTRAP_SERVERS", ""),
        ("KAFKA_BOOTSTRAP_SERVERS", " "),
    ],
)
def test_a_bad_setting_names_its_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid configuration: {name}: ")
    assert "\n" not in message


def test_start_up_stops_with_one_line_and_exit_code_2():
    result = stream_segmenter(["run"], {"BATCH_SIZE": "many"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "invalid configuration: BATCH_SIZE: Input should be a valid integer, "
        "unable to parse string as an integer (got 'many')"
    ]


def test_a_pipeline_that_is_not_installed_stops_start_up(monkeypatch, capsys):
    from stream_segmenter.cli import main

    monkeypatch.setenv("SPACY_PIPELINES", "en=no_such_pipeline_pkg")
    assert main(["segment"]) == 2
    assert capsys.readouterr().err.strip() == (
        "invalid configuration: SPACY_PIPELINES: en=no_such_pipeline_pkg is neither an "
        "installed spaCy package nor a pipeline directory (with a config.cfg)"
    )


def test_pipeline_mapping_and_defaults(monkeypatch):
    monkeypatch.setenv("SPACY_PIPELINES", "en=en_core_web_sm, de=/models/de")
    settings = load_settings()
    assert settings.spacy_pipelines == {"en": "en_core_web_sm", "de": "/models/de"}
    assert (settings.input_topic, settings.output_topic, settings.dlq_topic) == (
        "documents", "segments", "documents.dlq",
    )  # fmt: skip
    assert isinstance(settings, Settings)


def test_kafka_variables_pass_through_to_librdkafka():
    environ = {
        "KAFKA_BOOTSTRAP_SERVERS": "b:9092",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SSL_CA_LOCATION": "/ca.pem",
        "KAFKA_": "ignored",
        "OTHER": "x",
    }
    assert kafka_passthrough(environ) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "ssl.ca.location": "/ca.pem",
    }


def test_a_directory_that_is_not_a_pipeline_stops_start_up(monkeypatch, capsys, tmp_path):
    from stream_segmenter.cli import main

    monkeypatch.setenv("SPACY_PIPELINES", f"en={tmp_path}")
    assert main(["segment"]) == 2
    assert "SPACY_PIPELINES" in capsys.readouterr().err


def test_a_trailing_newline_is_not_a_language(monkeypatch):
    monkeypatch.setenv("DEFAULT_LANG", "en\n")
    with pytest.raises(ConfigError, match="DEFAULT_LANG"):
        load_settings()


def test_kubernetes_and_kafka_script_variables_are_not_passed_to_librdkafka():
    environ = {
        "KAFKA_PORT": "tcp://10.0.0.1:9092",
        "KAFKA_PORT_9092_TCP_ADDR": "10.0.0.1",
        "KAFKA_SERVICE_HOST": "10.0.0.1",
        # a Service named kafka-bootstrap (the k8s ConfigMap's example) crashed start-up
        "KAFKA_BOOTSTRAP_SERVICE_HOST": "10.96.0.10",
        "KAFKA_BOOTSTRAP_SERVICE_PORT_BROKER": "9092",
        "KAFKA_BOOTSTRAP_PORT": "tcp://10.96.0.10:9092",
        "KAFKA_BOOTSTRAP_PORT_9092_TCP_PROTO": "tcp",
        "KAFKA_HOME": "/opt/kafka",
        "KAFKA_HEAP_OPTS": "-Xmx1g",
        "KAFKA_CLIENT_ID": "segmenter-7",
    }
    assert kafka_passthrough(environ) == {"client.id": "segmenter-7"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("KAFKA_FOO_BAR", "1", 'KAFKA_FOO_BAR: No such configuration property: "foo.bar"'),
        (
            "KAFKA_SECURITY_PROTOCOL",
            "bogus",
            'KAFKA_SECURITY_PROTOCOL: Invalid value "bogus" for configuration property',
        ),
        (
            "KAFKA_ENABLE_PARTITION_EOF",
            "maybe",
            'KAFKA_ENABLE_PARTITION_EOF: Expected bool value for "enable.partition.eof"',
        ),
        (  # librdkafka names the property by its canonical name
            "KAFKA_LINGER_MS",
            "abc",
            'KAFKA_LINGER_MS: Invalid value for configuration property "queue.buffering.max.ms"',
        ),
        (
            "KAFKA_DELIVERY_TIMEOUT_MS",
            "abc",
            'KAFKA_DELIVERY_TIMEOUT_MS: Invalid value for configuration property "message.t',
        ),
    ],
)
def test_a_property_librdkafka_refuses_stops_start_up_naming_it(variable, value, message):
    result = stream_segmenter(["run"], {variable: value, "ADMIN_ADDRESS": "off"})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"invalid configuration: {message}")


def test_messages_have_no_pydantic_prefix_and_show_the_value_once(monkeypatch):
    monkeypatch.setenv("MEMORY_THRESHOLD_MB", "lots")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "Value error" not in message and message.count("'lots'") == 1


def test_secrets_are_never_echoed(monkeypatch):
    from stream_segmenter.kafka.clients import config_error

    monkeypatch.setenv("ADMIN_TOKEN", "short")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "ADMIN_TOKEN" in str(caught.value) and "short" not in str(caught.value)
    monkeypatch.delenv("ADMIN_TOKEN")
    from confluent_kafka import KafkaError, KafkaException

    refused = KafkaException(
        KafkaError(
            KafkaError._INVALID_ARG,
            'Invalid value "hunter2hunter2" for configuration property "sasl.password"',
        )
    )
    message = str(config_error(refused, load_settings()))
    assert "KAFKA_SASL_PASSWORD" in message and "hunter2" not in message


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("KAFKA_DELIVERY_REPORT_ONLY_ERROR", "true", "each delivery report moves"),
        ("KAFKA_ENABLE_AUTO_COMMIT", "true", "only once their outputs are confirmed"),
        ("KAFKA_ACKS", "1", "every in-sync replica"),
        ("KAFKA_REQUEST_REQUIRED_ACKS", "1", "every in-sync replica"),  # acks's alias
        ("KAFKA_ISOLATION_LEVEL", "read_uncommitted", "aborted transactions"),
        ("KAFKA_GROUP_ID", "other", "set it with GROUP_ID"),
    ],
)
def test_a_property_the_guarantees_rest_on_cannot_be_overridden(variable, value, says):
    """Found in review: KAFKA_DELIVERY_REPORT_ONLY_ERROR=true ended start-up in a TypeError
    traceback, and had it been accepted no offset would ever have been committed."""
    with pytest.raises(ConfigError) as caught:
        refuse_owned_overrides({variable: value})
    message = str(caught.value)
    assert message.startswith(f"invalid configuration: {variable}: set by stream-segmenter (")
    assert says in message and "\n" not in message


def test_our_own_values_may_be_pinned():
    """In any spelling librdkafka reads the same (true/t/1, false/f/0, case, spaces)."""
    refuse_owned_overrides(
        {"KAFKA_ACKS": " ALL ", "KAFKA_ENABLE_AUTO_COMMIT": "False", "KAFKA_CLIENT_ID": "x",
         "KAFKA_ENABLE_IDEMPOTENCE": "1", "KAFKA_ISOLATION_LEVEL": "read_committed",
         "KAFKA_ENABLE_AUTO_OFFSET_STORE": "f", "KAFKA_DELIVERY_REPORT_ONLY_ERROR": "0"}
    )  # fmt: skip


def test_values_reach_librdkafka_without_surrounding_spaces():
    assert kafka_passthrough({"KAFKA_ACKS": " all ", "KAFKA_LINGER_MS": "5\n"}) == {
        "acks": "all", "linger.ms": "5"
    }  # fmt: skip


@pytest.mark.parametrize("command", [["run"], ["run", "--workers", "2"], ["demo"]])
def test_run_and_demo_refuse_an_override_with_one_line(command):
    result = stream_segmenter(command, {"KAFKA_ENABLE_AUTO_COMMIT": "true"})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("invalid configuration: KAFKA_ENABLE_AUTO_COMMIT: set by stream-")


def test_commands_that_rely_on_no_guarantee_are_not_refused():
    """`segment` never opens Kafka; `tail` may well read uncommitted outputs."""
    result = stream_segmenter(
        ["segment"], {"KAFKA_ISOLATION_LEVEL": "read_uncommitted"}, stdin="One. Two."
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["segments"]) == 2


def test_a_type_the_python_client_refuses_is_named_by_its_variable():
    from confluent_kafka import Producer

    from stream_segmenter.kafka.clients import config_error

    with pytest.raises(TypeError) as refused:
        Producer({"bootstrap.servers": "127.0.0.1:1", "delivery.report.only.error": "yes"})
    message = str(config_error(refused.value, Settings()))  # type: ignore[call-arg]
    assert message == (
        "invalid configuration: KAFKA_DELIVERY_REPORT_ONLY_ERROR: "
        "Expected delivery.report.only.error to be bool type, not str"
    )


def test_of_two_aliases_set_the_one_librdkafka_refuses_is_named():
    result = stream_segmenter(
        ["run"],
        {"ADMIN_ADDRESS": "off", "KAFKA_LINGER_MS": "5", "KAFKA_QUEUE_BUFFERING_MAX_MS": "abc"},
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("invalid configuration: KAFKA_QUEUE_BUFFERING_MAX_MS: ")


def test_with_workers_a_refused_property_is_one_line_not_one_per_worker():
    result = stream_segmenter(
        ["run", "--workers", "2"], {"ADMIN_ADDRESS": "off", "KAFKA_LINGER_MS": "abc"}
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "invalid configuration: KAFKA_LINGER_MS: Invalid value for configuration property "
        '"queue.buffering.max.ms"'
    ]
