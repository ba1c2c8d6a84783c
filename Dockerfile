# One image for both processes: `python -m bot` (front-ends) and `python -m bot.worker` (renders).
FROM python:3.11-slim-bookworm

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 CMAKE_ARGS=-DGGML_NATIVE=OFF

RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ffmpeg espeak-ng build-essential cmake libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY bot ./bot
COPY config ./config
COPY data/samples ./data/samples

# torch 2.13.0 from the index chosen at build time (CPU by default; a CUDA index for GPU hosts).
RUN pip install -q 'setuptools<81' wheel \
 && pip install -q --index-url "$TORCH_INDEX_URL" torch==2.13.0 \
 && pip install -q '.[neutts,diff2lip,musetalk,bot]' \
 && pip install -q 'setuptools<81'

ENV MOUTHPIECE_DATA_DIR=/data MOUTHPIECE_MODELS_DIR=/models
VOLUME ["/data", "/models"]
# /healthz and /metrics: the bot on 8080, a worker on 8081 (MOUTHPIECE_*_METRICS_PORT).
EXPOSE 8080 8081
CMD ["python", "-m", "bot"]
