# claimscan: the scoring API with the committed model, on a slim, pinned Python 3.11.
#   docker build -t claimscan .
#   docker run --rm -p 8000:8000 -e CLAIMSCAN_WORKERS=2 claimscan

# Build stage: the wheel, with the compiled modules (app/_kernels.pyx, app/_splitter.pyx), made where there is a C compiler.
# The full image of the same Python has gcc; none of it reaches the image below.
FROM python:3.11.14-bookworm AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY app/ app/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.14-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --no-cache-dir -r requirements/runtime.txt

# The committed model, then the package from the build stage's wheel (mounted, so no copy of it stays in a
# layer); training code, training data and tests stay out.
COPY models/ models/
# PYTHONDONTWRITEBYTECODE keeps pip from compiling too: compile once here, or every start takes ~1 s more.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps /wheels/claimscan-*.whl \
    && python -m compileall -q -j 0 /usr/local/lib/python3.11/site-packages \
    && groupadd --gid 10001 claimscan \
    && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin claimscan

# The installed package lives in site-packages, so point it at the model copied above.
ENV CLAIMSCAN_MODEL_DIR=/app/models \
    CLAIMSCAN_HOST=0.0.0.0 \
    CLAIMSCAN_PORT=8000 \
    CLAIMSCAN_WORKERS=1

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8000

# No curl in slim images: probe liveness with the standard library (urlopen raises on non-2xx).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CLAIMSCAN_PORT', '8000'), timeout=4)"]

# `claimscan serve` reads CLAIMSCAN_HOST, CLAIMSCAN_PORT and CLAIMSCAN_WORKERS.
CMD ["claimscan", "serve"]
