# Two images from one file, both running as a non-root user:
#   docker build --target service .   the online service: only what serving needs (no pandas, implicit, sklearn)
#   docker build --target training .  the offline training job (python -m training run ...)
FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
RUN useradd --create-home --uid 10001 recsvc
WORKDIR /app
COPY pyproject.toml .
COPY contract/ contract/
COPY reporting/ reporting/

FROM base AS service-build
COPY recsvc/ recsvc/
RUN pip wheel --wheel-dir /wheels '.[service]'

FROM base AS training-build
COPY training/ training/
RUN pip wheel --wheel-dir /wheels '.[training]'

FROM python:3.11-slim AS training
ENV PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1
RUN useradd --create-home --uid 10001 recsvc
COPY --from=training-build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /app
COPY examples/ examples/
USER recsvc
ENTRYPOINT ["python", "-m", "training"]

FROM python:3.11-slim AS service
ENV PYTHONUNBUFFERED=1 PORT=8000
RUN useradd --create-home --uid 10001 recsvc
COPY --from=service-build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /app
COPY gunicorn.conf.py .
USER recsvc
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz')"
ENTRYPOINT ["gunicorn", "-c", "gunicorn.conf.py", "recsvc.wsgi:app"]
