# vodhook: HTTP callback receiver + MNS poller + workers in one process.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VODHOOK_DATABASE_URL=sqlite:////data/vodhook.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY receiver ./receiver
COPY handlers ./handlers
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --create-home vodhook

USER vodhook
VOLUME ["/data"]
EXPOSE 8000

# The slim image has no curl; the standard library is enough for a health probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"

# Set VODHOOK_AUTH_KEYS (and VODHOOK_CALLBACK_URLS when behind a proxy) at run time.
CMD ["vodhook", "serve", "--host", "0.0.0.0"]
