# One image for both processes: `python -m bot` (front-ends) and `python -m bot.worker` (renders).
#
# Two stages. `build` has the compilers: it builds the wheels that have no binary release for
# every CPU (llama-cpp-python, pyworld) and installs everything into /opt/venv. `runtime`
# gets that virtual environment and the run-time libraries only: no compiler, no cmake, no
# headers, and it runs as an unprivileged user.

# ---- build ---------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS build

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 CMAKE_ARGS=-DGGML_NATIVE=OFF

# An operator's extra CA (a TLS-inspecting proxy's, config/ca/*.crt): added to the system's
# trust store, which pip is pointed at by its lowest-priority config file (pip's own bundle,
# certifi's, would not know it). Not PIP_CERT nor REQUESTS_CA_BUNDLE: either would override
# the `cert` of a build host's own /etc/pip.conf, which must keep winning.
COPY config/ca/ /usr/local/share/ca-certificates/mouthpiece/
RUN update-ca-certificates >/dev/null \
 && mkdir -p /etc/xdg/pip \
 && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >/etc/xdg/pip/pip.conf

RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY bot ./bot
COPY spoken_text ./spoken_text
COPY job_marks ./job_marks

# torch 2.13.0 from the index chosen at build time (CPU by default; a CUDA index for GPU hosts),
# then the project (not editable: the runtime stage has no source tree to point at). pocket-tts
# goes in without its declared dependencies: it asks numpy>=2, mediapipe numpy<2, and its code
# runs on 1.26 (the pocket extra lists what it imports).
RUN pip install -q 'setuptools<81' wheel \
 && pip install -q --index-url "$TORCH_INDEX_URL" torch==2.13.0 \
 && pip install -q '.[neutts,diff2lip,musetalk,pocket,bot]' \
 && pip install -q --no-deps 'pocket-tts==4.0.1' \
 && pip install -q 'setuptools<81'
# NeuTTS Air's phonemes: espeak-ng 1.52.0.1 and its data (GPL-3.0) taken out of the neutts 1.4.1
# wheel, which is downloaded, not installed -> /opt/venv/share/mouthpiece/neutts-espeak-ng
RUN python -m engine.tts.neutts_espeak

# ---- runtime -------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

# The operator's extra CA again (config/ca/*.crt), for the processes: model downloads
# (requests, httpx) and Python's ssl read the system's trust store, not certifi's bundle.
COPY config/ca/ /usr/local/share/ca-certificates/mouthpiece/
RUN update-ca-certificates >/dev/null
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# Run-time libraries only: ffmpeg (media), espeak-ng (speech), OpenCV's GL/GLib, the C++ and
# OpenMP run-times the compiled wheels (llama.cpp, pyworld) link against.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      ffmpeg espeak-ng libgl1 libglib2.0-0 libstdc++6 libgomp1 \
 && rm -rf /var/lib/apt/lists/*

# An unprivileged user owns only what the processes write: /data (SQLite, uploads, videos,
# caches) and /models (written by the `models` tool; the worker mounts it read-only).
RUN groupadd --system --gid 10001 mouthpiece \
 && useradd --system --uid 10001 --gid mouthpiece --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin mouthpiece \
 && mkdir -p /data /models \
 && chown mouthpiece:mouthpiece /data /models

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY config ./config
COPY data/samples ./data/samples

# With a read-only root (docker-compose.yml), libraries' caches go to the /tmp tmpfs.
ENV HOME=/tmp XDG_CACHE_HOME=/tmp/.cache MPLCONFIGDIR=/tmp/matplotlib \
    MOUTHPIECE_DATA_DIR=/data MOUTHPIECE_MODELS_DIR=/models MOUTHPIECE_CACHE_DIR=/data/cache

USER mouthpiece:mouthpiece
VOLUME ["/data", "/models"]
# /healthz and /metrics: the bot on 8080, a worker on 8081 (MOUTHPIECE_*_METRICS_PORT).
EXPOSE 8080 8081
CMD ["python", "-m", "bot"]
