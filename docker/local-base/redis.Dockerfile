# A stand-in for redis:7.4 where Docker Hub cannot be reached: Debian 12's redis-server (7.0),
# on a minimal Debian made by debootstrap and `docker import` (scripts/compose_test.py).
# Like the official image it keeps its data in /data and turns protected mode off (other
# containers on the compose network connect without a password), which Debian's build
# leaves on when no config file is given.
ARG DEBIAN=catalog-local/debian:bookworm
FROM ${DEBIAN}
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir /data
WORKDIR /data
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
