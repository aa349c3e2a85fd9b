# One image for every biztrace service (collector, alert loop, dashboard, schema init);
# compose/ picks the command. Pinned base; runs as an unprivileged user; no secrets inside:
# the store's password arrives at run time through BIZTRACE_STORE.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY biztrace ./biztrace
COPY collector ./collector
COPY tracing ./tracing
COPY simulator ./simulator
COPY alerts ./alerts
COPY dashboard ./dashboard
COPY config ./config
COPY readmodel ./readmodel
COPY api ./api
# biztrace-tracing is its own distribution (tracing/pyproject.toml), installed first
RUN pip install ./tracing . \
    && groupadd --system --gid 10001 biztrace \
    && useradd --system --uid 10001 --gid biztrace --home-dir /home/biztrace --create-home biztrace

USER 10001:10001
WORKDIR /home/biztrace
# 4318 OTLP/HTTP, 4317 OTLP/gRPC, 8501 dashboard
EXPOSE 4317 4318 8501
ENTRYPOINT ["biztrace"]
CMD ["--help"]
