"""`stream-segmenter` command line: run, segment, produce, tail, demo, schemas."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from stream_segmenter.errors import ConfigError

if TYPE_CHECKING:
    from stream_segmenter.config import Settings

log = logging.getLogger("stream_segmenter")
UTF8_BOM = b"\xef\xbb\xbf"


class InputError(Exception):
    """An input file that cannot be read: one line, exit code 2."""


class StopSignals:
    """SIGTERM/SIGINT for `run`, caught from the first moment: a signal during start-up
    (loading pydantic, spaCy, a pipeline) must stop the process cleanly, not kill it."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.on_stop: list[Callable[[], None]] = []
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        log.info("received %s: finishing in-flight work", signal.Signals(signum).name)
        self.received.append(signum)
        for stop in self.on_stop:
            stop()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        args.signals = StopSignals()
    from stream_segmenter.config import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(settings, args) or 0)
    except (ConfigError, InputError) as exc:
        print(f"stream-segmenter: {exc}" if isinstance(exc, InputError) else exc, file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream-segmenter",
        description="Split text documents from Kafka into sentences with spaCy. "
        "Settings come from environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="consume, segment and publish until SIGTERM/SIGINT")
    run.add_argument("--workers", type=int, default=1, help="processes in the group (one per core)")
    run.set_defaults(handler=cmd_run)

    segment = commands.add_parser(
        "segment", help="segment JSONL events or plain text from files/stdin to stdout (no Kafka)"
    )
    segment.add_argument("files", nargs="*", type=Path, help="input files (default: stdin)")
    segment.add_argument(
        "--format",
        choices=["auto", "jsonl", "text"],
        default="auto",
        help="jsonl: one event per line; text: each file is one document (auto: by content)",
    )
    segment.add_argument("--lang", help="language of plain-text input (default: DEFAULT_LANG)")
    segment.set_defaults(handler=cmd_segment)

    produce = commands.add_parser(
        "produce", help="publish JSONL events, text files or CoNLL-U documents to the input topic"
    )
    produce.add_argument("paths", nargs="+", type=Path, help="files or folders")
    produce.add_argument("--topic", help="default: INPUT_TOPIC")
    produce.add_argument("--lang", help="lang field for text and CoNLL-U documents")
    produce.add_argument("--limit", type=int, help="publish at most this many documents")
    produce.add_argument("--partitions", type=int, default=3, help="when creating the topic")
    produce.set_defaults(handler=cmd_produce)

    demo = commands.add_parser(
        "demo", help="publish a real corpus, segment it with `run`, print a summary"
    )
    demo.add_argument("--corpus", type=Path, help="default: UD English EWT test, see README")
    demo.add_argument("--limit", type=int)
    demo.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for results")
    demo.set_defaults(handler=cmd_demo)

    tail = commands.add_parser("tail", help="print the output, telemetry or DLQ topic readably")
    tail.add_argument("kind", choices=["output", "telemetry", "dlq"], nargs="?", default="output")
    tail.add_argument("--topic", help="default: OUTPUT_TOPIC, TELEMETRY_TOPIC or DLQ_TOPIC")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--max", type=int, dest="max_messages", help="stop after N messages")
    tail.add_argument("--idle-exit", type=float, help="stop after N seconds without messages")
    tail.add_argument("--raw", action="store_true", help="print the JSON as it is")
    tail.set_defaults(handler=cmd_tail)

    evaluate = commands.add_parser(
        "eval", help="segmentation quality against gold data, side by side with spaCy's sentencizer"
    )
    evaluate.add_argument("--data", type=Path, help="default: ../shared/data (see README)")
    evaluate.add_argument("--split", choices=["test", "dev"], default="test",
                          help="dev: EWT dev, to tune on; test: the figures to report")  # fmt: skip
    evaluate.add_argument(
        "--write", type=Path, metavar="MARKDOWN", help="e.g. docs/SEGMENTATION.md"
    )
    evaluate.add_argument(
        "--errors", type=int, default=0, metavar="N", help="print N missed and N spurious "
        "boundaries of each set, in context",
    )  # fmt: skip
    evaluate.set_defaults(handler=cmd_eval)

    schemas = commands.add_parser("schemas", help="write (or --check) schemas/*.json")
    schemas.add_argument("--dir", type=Path, default=Path("schemas"))
    schemas.add_argument("--check", action="store_true", help="exit 1 if the files drifted")
    schemas.set_defaults(handler=cmd_schemas)
    return parser


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from stream_segmenter.config import refuse_owned_overrides

    refuse_owned_overrides(os.environ)
    if args.workers < 1:
        raise ConfigError(f"invalid argument: --workers: must be at least 1, got {args.workers}")
    if args.workers > 1:
        from stream_segmenter.app import build_clients
        from stream_segmenter.kafka.clients import DEFAULT_MESSAGE_MAX_BYTES
        from stream_segmenter.workers import run_workers

        # A refused property: one line here, not one per worker; each worker asks the
        # broker for the topics' message limit itself.
        build_clients(settings, DEFAULT_MESSAGE_MAX_BYTES)
        return run_workers(settings, args.workers, args.signals)
    from stream_segmenter.app import build_app
    from stream_segmenter.heap import freeze_startup_objects

    signals: StopSignals = args.signals
    app = build_app(settings)
    signals.on_stop.append(app.loop.stop)
    if signals.received:
        log.info("stopped before consuming anything")
        return 0
    # This process only runs the app from here on: what exists now lives until exit.
    frozen = freeze_startup_objects()
    log.debug("%d start-up objects frozen out of the GC", frozen)
    app.run()
    return app.loop.exit_code


def cmd_segment(settings: Settings, args: argparse.Namespace) -> int:
    from stream_segmenter.app import build_document_processor
    from stream_segmenter.events import SourceRef
    from stream_segmenter.process import RawMessage

    processor = build_document_processor(settings)
    rejected = 0
    batch: list[RawMessage] = []

    def flush() -> None:
        nonlocal rejected
        for outcome in processor.process(batch):
            if outcome.output is not None:
                sys.stdout.buffer.write(outcome.output + b"\n")
            else:
                assert outcome.error is not None
                rejected += 1
                report = {
                    "error": outcome.error.kind,
                    "reason": outcome.error.reason,
                    "source": outcome.message.source.model_dump(),
                }
                print(json.dumps(report), file=sys.stderr)
        batch.clear()

    for name, line_number, value in _segment_inputs(args, settings):
        source = SourceRef(topic=name, partition=0, offset=line_number)
        batch.append(RawMessage(key=None, value=value, source=source))
        if len(batch) >= settings.batch_size:
            flush()
    flush()
    sys.stdout.flush()
    return 1 if rejected else 0


def _segment_inputs(
    args: argparse.Namespace, settings: Settings
) -> Iterator[tuple[str, int, bytes]]:
    """(source name, line or 0, event bytes) for every input document, read as it comes."""
    sources = [str(path) for path in args.files] or ["-"]
    for name in sources:
        try:
            stream: BinaryIO = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror}") from None
        with stream:
            yield from _documents_in(stream, "stdin" if name == "-" else name, args, settings)


def _documents_in(
    stream: BinaryIO, name: str, args: argparse.Namespace, settings: Settings
) -> Iterator[tuple[str, int, bytes]]:
    try:
        head = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from None
    fmt = args.format
    if fmt == "auto":
        fmt = "jsonl" if head.removeprefix(UTF8_BOM).lstrip().startswith(b"{") else "text"
    if fmt == "jsonl":
        for number, line in enumerate(stream, start=1):
            line = (line.removeprefix(UTF8_BOM) if number == 1 else line).rstrip(b"\r\n")
            if line.strip():
                yield name, number, line
        return
    data = stream.read().removeprefix(UTF8_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield name, 0, data  # not text: the decoder reports it as invalid_utf8
        return
    event = {"doc_id": Path(name).stem, "text": text, "lang": args.lang or settings.default_lang}
    yield name, 0, json.dumps(event, ensure_ascii=False).encode()


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from confluent_kafka import Producer

    from stream_segmenter.kafka.clients import base_config, ensure_topics
    from stream_segmenter.publish import corpus_events, publish

    topic = args.topic or settings.input_topic
    events = corpus_events(args.paths, args.lang, args.limit)
    ensure_topics(
        settings.kafka_bootstrap_servers,
        [topic],
        partitions=args.partitions,
        extra_config=settings.librdkafka_overrides(),
    )
    config = base_config(settings)
    config["linger.ms"] = 20
    delivered = publish(Producer(config), topic, events, total=len(events))
    print(f"published {delivered} documents to {topic}", file=sys.stderr)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from stream_segmenter.config import refuse_owned_overrides

    refuse_owned_overrides(os.environ)
    from stream_segmenter.demo import run_demo

    summary = run_demo(settings, args.corpus, args.limit, args.timeout)
    print(summary.render())
    complete = summary.outputs + summary.dead_letters == summary.published
    return 0 if complete and summary.exit_code == 0 else 1


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    from stream_segmenter.kafka.clients import base_config
    from stream_segmenter.tail import tail

    default_topic = {
        "output": settings.output_topic,
        "telemetry": settings.telemetry_topic,
        "dlq": settings.dlq_topic,
    }[args.kind]
    config = {k: v for k, v in base_config(settings).items() if k != "error_cb"}
    tail(
        config, args.topic or default_topic, args.kind, args.from_beginning,
        args.max_messages, args.raw, args.idle_exit,
    )  # fmt: skip
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from stream_segmenter import evaluation, segmentation_report
    from stream_segmenter.demo import find_data

    data = args.data or find_data()
    sets = evaluation.TEST_SETS if args.split == "test" else evaluation.DEV_SETS
    needed = [evaluation.GOLDEN_RULES, *(treebank.path for treebank in sets)]
    missing = [name for name in needed if data is None or not (data / name).is_file()]
    if missing:
        raise InputError(
            f"no gold data in {data or '../shared/data'} (missing {missing[0]}): "
            "pass --data DIR or set SHARED_DATA"
        )
    started = time.perf_counter()
    result = evaluation.evaluate(data, args.split, settings.spacy_pipelines, progress=_note)
    seconds = time.perf_counter() - started
    report = segmentation_report.render(result, seconds)
    print(report.split("\n## Speed")[0])
    if args.errors:
        evaluation.print_errors(data, args.split, settings.spacy_pipelines, args.errors)
    if args.write:
        segmentation_report.write(result, seconds, args.write)
        _note(f"wrote {args.write}")
    return 0


def _note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_schemas(_: Settings, args: argparse.Namespace) -> int:
    from stream_segmenter import schemas

    if args.check:
        drifted = schemas.drifted(args.dir)
        for name in drifted:
            print(f"{args.dir / name} differs from the models: run `stream-segmenter schemas`")
        return 1 if drifted else 0
    for path in schemas.write(args.dir):
        print(f"wrote {path}")
    return 0
