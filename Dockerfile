# The grading image: every submission's code runs in a container of it (`grader image build`
# assembles the build context: this file, a wheelhouse and the grader package; never the
# solutions or the hidden tests).
ARG BASE=grader-base:bookworm
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv dataset-fashion-mnist >/dev/null \
 && rm -rf /var/lib/apt/lists/*
# Wheels only, from the wheelhouse: the same pinned builds every time, no index needed.
# The heavy layer (torch) holds the third-party wheels alone, so a change to the grader
# rebuilds only the thin layer below it.
COPY wheelhouse /tmp/wheelhouse
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --no-index --find-links /tmp/wheelhouse -r /tmp/wheelhouse/requirements.txt \
 && rm -rf /tmp/wheelhouse /root/.cache
COPY grader_src /tmp/grader_src
RUN /opt/venv/bin/pip install -q --no-index --no-deps --no-build-isolation /tmp/grader_src && rm -rf /tmp/grader_src /root/.cache
# Fashion-MNIST's test split is the held-out evaluation pool: never where student code runs.
# Trusted steps (no student code) get the host's copy mounted (`holdout_dir` in assignment.yaml).
RUN rm -f /usr/share/datasets/fashion-mnist/t10k-*
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin student
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1
USER 10001
WORKDIR /work
