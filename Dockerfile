# Multi-stage: build wheels once, run as a non-root user with gunicorn.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PORT=8000
RUN useradd --create-home --uid 10001 recsvc
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
COPY recsvc/ recsvc/
COPY training/ training/
COPY examples/ examples/
COPY gunicorn.conf.py .
USER recsvc
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz')"
ENTRYPOINT ["gunicorn", "-c", "gunicorn.conf.py", "recsvc.wsgi:app"]
