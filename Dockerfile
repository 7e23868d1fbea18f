# ai-trader container for App Service (API or UI) and the Container Apps jobs.
#   API (default):  the App Service sets WEBSITES_PORT; API_BEARER_TOKEN must be set (the API
#                   refuses to listen on 0.0.0.0 without it).
#   UI:             docker run ... ai-trader ui --host 0.0.0.0   (serves /ui/ on UI_PORT)
#   Jobs:           python scripts/sweep_job_entry.py, python scripts/order_consumer.py ...
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install ".[azure,alpaca]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DATA_DIR=/home/site/var ARTIFACTS_DIR=/home/site/artifacts NUMBA_CACHE_DIR=/tmp/numba
RUN useradd --create-home --uid 1000 trader
COPY --from=build /install /usr/local
WORKDIR /app
COPY scripts ./scripts
COPY configs ./configs
USER trader
EXPOSE 8000 8501
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"WEBSITES_PORT\", os.environ.get(\"PORT\", \"8000\"))}/health/live', timeout=4)"
CMD ["ai-trader", "api", "--host", "0.0.0.0"]
