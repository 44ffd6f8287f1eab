# stream-segmenter: `docker build -t stream-segmenter .` (README, "Deploy").
# Linted by hadolint and checked by tests/unit/test_deployment.py.

FROM python:3.11-slim-bookworm AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Dependencies in their own layer: rebuilt only when pyproject.toml (or the pipelines
# to bake in) change, not when the source does.
FROM base AS deps
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
# A trained pipeline is baked in here, at build time; nothing is downloaded at run time.
# PIPELINE_PACKAGES: pip requirements for spaCy pipeline packages (a wheel URL, or a name
# on your own index), e.g.
#   docker build \
#     --build-arg PIPELINE_PACKAGES=https://github.com/explosion/spacy-models/releases/download/en_core_web_sm-3.8.0/en_core_web_sm-3.8.0-py3-none-any.whl \
#     --build-arg SPACY_PIPELINES=en=en_core_web_sm -t stream-segmenter:en-sm .
ARG PIPELINE_PACKAGES=""
# Word splitting is wanted (PIPELINE_PACKAGES may name several packages), and their
# versions are the operator's to pin (a wheel's URL names its version).
# hadolint ignore=SC2086,DL3013
RUN if [ -n "$PIPELINE_PACKAGES" ]; then \
        pip install --no-cache-dir --disable-pip-version-check $PIPELINE_PACKAGES; \
    fi

FROM deps AS build
COPY README.md ./
COPY stream_segmenter ./stream_segmenter
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

FROM base AS runtime
LABEL org.opencontainers.image.title="stream-segmenter" \
      org.opencontainers.image.description="Kafka stream processor that splits documents into sentences with spaCy, with bounded memory"
RUN groupadd --system --gid 10001 segmenter \
    && useradd --system --uid 10001 --gid segmenter --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin segmenter
COPY --from=deps /opt/venv /opt/venv
# (A COPY, not a BuildKit bind mount: the legacy builder builds this file too.)
COPY --from=build /wheels /wheels
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /wheels/*.whl
ARG SPACY_PIPELINES=""
# ADMIN_ADDRESS: probes reach the admin endpoint from outside the container's loopback.
# Memory thresholds as shares of the container's memory limit (cgroup), so they follow
# whatever limit the container gets; start-up refuses to run without a limit. Give MB
# instead (and a matching limit) where you want fixed numbers: see README, "Deploy".
ENV PATH=/opt/venv/bin:$PATH \
    ADMIN_ADDRESS=0.0.0.0:8080 \
    MEMORY_THRESHOLD_MB=60% \
    HIGH_MEMORY_THRESHOLD_MB=80% \
    SPACY_PIPELINES=${SPACY_PIPELINES}
USER 10001:10001
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Build every pipeline the image will use (the default language's and each one in
# SPACY_PIPELINES) through the processor's own code path, and segment one document
# with each: the build fails here, not the first message in production.
RUN python -c "import json; from stream_segmenter.config import load_settings; s = load_settings(); [print(json.dumps({'doc_id': lang, 'lang': lang, 'text': 'This is one. This is two.'})) for lang in sorted({s.default_lang, *s.spacy_pipelines})]" \
    | stream-segmenter segment > /dev/null
EXPOSE 8080
# `stream-segmenter run` is PID 1 (exec form, no shell): SIGTERM reaches it and it stops
# fetching, flushes, commits and leaves the group (allow it terminationGracePeriodSeconds
# / stop_grace_period of 120 s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; address = os.environ.get('ADMIN_ADDRESS', '127.0.0.1:8080'); host, _, port = address.rpartition(':'); address == 'off' and sys.exit(0); host = '127.0.0.1' if host in ('0.0.0.0', '') else host; urllib.request.urlopen(f'http://{host}:{port}/healthz', timeout=4)"]
ENTRYPOINT ["stream-segmenter"]
CMD ["run"]
