# One image for the API, the workers and the migrations of the compose stack.
# torch comes from the Makefile's pin (TORCH_VERSION); from PyPI on Linux x86-64 that is
# the CUDA build, which is what the GPU workers need.
FROM python:3.11-slim

# gcc: `pip install` builds optim/'s fused CPU kernels (a C extension, optim/csrc/) with
# -march=native, so the image suits CPUs like the one it was built on; without a compiler
# the install still succeeds and the optimizers take their plain path.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends make gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml Makefile README.md ./
COPY api ./api
COPY core ./core
COPY worker ./worker
COPY optim ./optim
COPY adamlab ./adamlab
RUN make venv EXTRAS= && rm -rf /root/.cache/pip

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ADAMLAB_STATE_DIR=/var/lib/adamlab \
    ADAMLAB_DATA_DIR=/var/lib/adamlab/datasets

RUN useradd --create-home --uid 10001 adamlab \
    && mkdir -p /var/lib/adamlab/datasets \
    && chown -R adamlab /var/lib/adamlab
USER adamlab

EXPOSE 8000
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000", \
     "--http", "adamlab.http_protocol:TimedH11Protocol"]
