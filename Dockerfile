# syntax=docker/dockerfile:1
# POSAI production image. One image, two processes:
#   web:    gunicorn --config gunicorn.conf.py 'posai_app:create_app()'   (the CMD below)
#   worker: python worker.py
# Migrations run once per deploy: `flask --app posai_app db upgrade` (fly.toml release_command).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve and install every dependency into a virtualenv -------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md ./
COPY posai_app ./posai_app
COPY migrations ./migrations
COPY worker.py gunicorn.conf.py ./

# Editable install: the code stays in /app, where the factory finds migrations/ beside the
# package and worker.py sits beside it; the venv only points there (and gets the `posai` script).
# Every dependency comes as a wheel, so no compiler is needed in either stage.
RUN pip install --editable . \
    && python -m compileall -q posai_app migrations worker.py gunicorn.conf.py

# ---- runtime: the venv and the code, no build tools, non-root -------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000

RUN groupadd --system --gid 10001 posai \
    && useradd --system --uid 10001 --gid posai --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin posai

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# Flask's instance folder is the only place the app may write to (development fallbacks only).
RUN mkdir -p /app/instance && chown posai:posai /app/instance

USER 10001:10001
EXPOSE 8000

# Liveness only (readiness is /readyz, checked by Fly). A worker container has no HTTP server:
# run it with `docker run --no-healthcheck ... python worker.py`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["gunicorn", "--config", "gunicorn.conf.py", "posai_app:create_app()"]
