# qi-load image: Locust master/worker, `qi-load report`, `qi-load monitor` and the reference
# agent (`qi-load target`). Used by k8s/ (docs/kubernetes.md). Build from the repository root:
#   docker build -t qi-load:0.1.0 .
#
# Base pinned by version; for byte-for-byte rebuilds also pin its digest, e.g.
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm   # -> sha256:...
# and write FROM python:3.11.14-slim-bookworm@sha256:<digest>.
FROM python:3.11.14-slim-bookworm

# The root filesystem is read-only in k8s/: matplotlib and fontconfig caches go to /tmp,
# which the manifests mount as an emptyDir.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/cache \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 10001 qi \
    && useradd --system --uid 10001 --gid qi --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin qi \
    && python -m venv /opt/venv

# Dependencies first, pinned to the versions the test suite ran against
# (k8s/image/constraints.txt, written by k8s/image/freeze_constraints.py): code edits then
# reuse this layer.
COPY k8s/image/constraints.txt /opt/constraints.txt
RUN pip install --no-cache-dir -r /opt/constraints.txt

# The package itself, non-editable (scenarios and the agent's sandbox are package data);
# the sources are removed again so only the installed copy is importable.
COPY pyproject.toml README.md /tmp/src/
COPY qi_load /tmp/src/qi_load
RUN pip install --no-cache-dir -c /opt/constraints.txt /tmp/src && rm -rf /tmp/src

WORKDIR /app
# Default locustfiles, for `locust -f /app/locustfiles/agent.py` outside Kubernetes;
# k8s/ mounts its own copies from a ConfigMap at /config/locustfiles.
COPY locustfiles ./locustfiles

USER 10001:10001

# 5557 Locust master, 5558 qi-load monitor sidecars, 8089 Locust web UI, 9646 Prometheus
# metrics, 8000 the reference agent.
EXPOSE 5557 5558 8089 9646 8000

ENTRYPOINT ["qi-load"]
CMD ["--help"]
