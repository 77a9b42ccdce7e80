# scvbench BIDS-App image.
#
#   docker build -t scvbench:0.1.0 .                                     # CPU (default)
#   docker build -t scvbench:0.1.0-cuda \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#     --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .    # NVIDIA GPUs
#
#   docker run --rm -v /data/bids:/data:ro -v /data/out:/out scvbench:0.1.0 \
#     /data /out participant --participant-label 01 --model frangi
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# Where torch comes from: the CPU wheel index by default, a CUDA one (cu128, ...) for GPU bases.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/scvbench \
    PATH=/opt/scvbench/bin:${PATH} \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba-cache

# A CUDA base has no Python of its own: take the distribution's (slim Python images skip this).
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv "${VIRTUAL_ENV}"

# torch first and pinned, from the chosen index: the project's dependency then installs nothing.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bids_template ./bids_template
COPY scvbench ./scvbench
# dcm2niix and the BIDS validator (bids-validator-deno) come in as Python packages.
RUN pip install . \
    && (dcm2niix --version || true) | grep -q "dcm2niiX version" \
    && bids-validator-deno --version \
    && scvbench --version

RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin scvbench
USER 1000:1000
WORKDIR /home/scvbench

ENTRYPOINT ["scvbench", "run"]
CMD ["--help"]
