# ai-trader container for App Service (API or UI) and the Container Apps jobs.
#   API (default):  the App Service sets WEBSITES_PORT; API_BEARER_TOKEN must be set (the API
#                   refuses to listen on 0.0.0.0 without it). Health: GET /health/live.
#   UI:             docker run -e AI_TRADER_COMPONENT=ui ... ai-trader ui --host 0.0.0.0
#                   (serves /ui/ on WEBSITES_PORT, else UI_PORT). Health: GET /ui/_stcore/health.
#   Jobs:           python scripts/sweep_job_entry.py, python scripts/order_consumer.py ...
# HEALTHCHECK probes what the role named by AI_TRADER_COMPONENT serves (deploy/image/healthcheck.py);
# App Service and Container Apps use their own probes from infra/, which match it.
# The Numba kernels are compiled during the build into /opt/numba-cache for a generic x86-64 CPU,
# so a fresh container's first backtest or sweep loads them instead of compiling.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY deploy/image/install.sh ./deploy/image/install.sh
RUN deploy/image/install.sh /opt/venv /src

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/home/site/var ARTIFACTS_DIR=/home/site/artifacts \
    NUMBA_CACHE_DIR=/opt/numba-cache NUMBA_CPU_NAME=generic
RUN useradd --create-home --uid 1000 trader \
    && install -d -o trader -g trader /home/site/var /home/site/artifacts /opt/numba-cache
# same path as in the build stage: the venv's scripts and the Numba cache name it
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY scripts ./scripts
COPY configs ./configs
COPY deploy/image/healthcheck.py ./deploy/image/healthcheck.py
USER trader
# after the sources are in place (cache entries are found by source path, valid while its contents hold)
RUN python -m app.backtest.precompile && python -m app.backtest.precompile --check --quiet
EXPOSE 8000 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["python", "/app/deploy/image/healthcheck.py"]
CMD ["ai-trader", "api", "--host", "0.0.0.0"]
