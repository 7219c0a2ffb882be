# A stand-in for python:3.11-slim where Docker Hub cannot be reached, made from Debian's own
# packages: FROM is a minimal Debian 12 made by debootstrap and `docker import`
# (scripts/compose_test.py does both). Debian's python3.11 is 3.11.2.
ARG DEBIAN=catalog-local/debian:bookworm
FROM ${DEBIAN}
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
CMD ["python3.11"]
