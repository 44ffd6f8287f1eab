# The two commands a new user needs:
#   make demo   set up, start a local Kafka broker, segment UD English EWT, print a summary
#   make test   set up and run every test (integration tests on a real broker included)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BROKER := $(BIN)/python tools/local_kafka.py
export LOCAL_KAFKA_PORT ?= 9092
LOCAL_BOOTSTRAP := 127.0.0.1:$(LOCAL_KAFKA_PORT)

.PHONY: with-broker setup demo test lint unit bench bench-long eval broker-start broker-stop schemas clean

$(BIN)/stream-segmenter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

setup: $(BIN)/stream-segmenter ## virtualenv with the package and its test tools
	$(BROKER) fetch

demo: setup ## the main job on real text, end to end through a local broker
	@$(MAKE) --no-print-directory with-broker RUN="$(BIN)/stream-segmenter demo"

test: setup lint ## every test; the broker: $$KAFKA_BOOTSTRAP_SERVERS, else Docker, else local
	$(BIN)/pytest -ra

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: $(BIN)/stream-segmenter ## tests that need no broker
	$(BIN)/pytest -ra tests/unit

bench: setup ## benchmarks, quick (10 to 20 minutes on 2 cores): docs/BENCHMARKS.md and plots
	@$(MAKE) --no-print-directory with-broker RUN="$(BIN)/python -m benchmarks"

bench-long: setup ## benchmarks with a 3,000,000-document soak
	@$(MAKE) --no-print-directory with-broker RUN="$(BIN)/python -m benchmarks --long"

eval: $(BIN)/stream-segmenter ## segmentation quality on the gold data: docs/SEGMENTATION.md
	$(BIN)/stream-segmenter eval --write docs/SEGMENTATION.md

# Runs $(RUN) against the local broker, starting it (and stopping it after) if needed.
with-broker:
	@if $(BROKER) status 2>/dev/null; then \
		KAFKA_BOOTSTRAP_SERVERS=$(LOCAL_BOOTSTRAP) $(RUN); \
	else \
		$(BROKER) start >/dev/null && trap '$(BROKER) stop' EXIT && \
		KAFKA_BOOTSTRAP_SERVERS=$(LOCAL_BOOTSTRAP) $(RUN); \
	fi

broker-start: setup ## a local broker that stays up (127.0.0.1:$LOCAL_KAFKA_PORT, default 9092)
	$(BROKER) start

broker-stop:
	$(BROKER) stop

schemas: $(BIN)/stream-segmenter ## regenerate schemas/ from the event models
	$(BIN)/stream-segmenter schemas

clean:
	-$(BROKER) stop
	rm -rf $(VENV) .local-kafka .pytest_cache .ruff_cache
