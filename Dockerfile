# The grading image: every submission's code runs in a container of it (`grader image build`
# assembles the build context: this file, a wheelhouse and the grader package; never the
# solutions or the hidden tests).
#
# Multi-stage, so the wheelhouse never ships: a file a later layer deletes still ships in the
# layer that added it (3.14 GB of wheels did), and dockerd 20.10 without buildx has no BuildKit
# for `RUN --mount=type=bind`. The wheels are installed into /opt/venv in the builder stage,
# and only /opt/venv is copied into the image.
ARG BASE=grader-base:bookworm
FROM ${BASE} AS system
# Fashion-MNIST's test split is the held-out evaluation pool: never where student code runs,
# and removed in the layer that installs it, so no layer holds it. Trusted steps (no student
# code) get the host's copy mounted (`holdout_dir` in assignment.yaml).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv dataset-fashion-mnist >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /usr/share/datasets/fashion-mnist/t10k-*
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin student

# Wheels only, from the wheelhouse: the same pinned builds every time, no index needed.
FROM system AS builder
COPY wheelhouse /tmp/wheelhouse
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --no-cache-dir --no-index --find-links /tmp/wheelhouse -r /tmp/wheelhouse/requirements.txt

FROM system
# The heavy layer (torch) holds the third-party packages alone, so a change to the grader
# rebuilds only the thin layers below it.
COPY --from=builder /opt/venv /opt/venv
COPY grader_src /tmp/grader_src
RUN /opt/venv/bin/pip install -q --no-cache-dir --no-index --no-deps --no-build-isolation /tmp/grader_src \
 && rm -rf /tmp/grader_src /root/.cache \
 && chmod 0711 /root
# /root may be traversed, not listed: the grader mounts its folders at their host paths, and a
# grader run as root keeps its cache (trusted assets, {trusted_assets}) under /root/.cache.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1
USER 10001
WORKDIR /work
