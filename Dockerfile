# syntax=docker/dockerfile:1
# Plum's container image: `plum` is the entry point, so the same image runs `serve`, `worker`, `agent`,
# `scheduler` or any other command (deploy/compose.yml runs the whole distributed stack with it).
#   docker build -t plum .
#   docker run --rm plum --help
# Built in two stages: the first installs every package and bundles `plum` (scripts/build.mjs); the second
# keeps the production packages, the bundle and the files Plum reads at run time, and runs as user plum.

ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /opt/plum
COPY package.json package-lock.json ./
# No install scripts: `prepare` would bundle before the sources are here (it runs below).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN node scripts/build.mjs \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
 && rm -rf test bench .ci

FROM ${NODE_IMAGE}
# nmap (and masscan, for operators' own sweeps) from Debian bookworm, pinned; bump with the base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nmap=7.93+dfsg1-1 masscan=2:1.3.2+ds1-1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 plum \
 && useradd --system --uid 10001 --gid plum --home-dir /var/lib/plum --create-home --shell /usr/sbin/nologin plum
WORKDIR /opt/plum
# Sources keep their modification times, so bin/plum.mjs finds the bundle fresh and never compiles at start.
COPY --from=build --chown=root:root /opt/plum /opt/plum
ENV NODE_ENV=production \
    PLUM_HOME=/var/lib/plum \
    PLUM_LOG_LEVEL=info
USER 10001:10001
VOLUME ["/var/lib/plum"]
EXPOSE 8080
ENTRYPOINT ["/opt/plum/deploy/docker-entrypoint.sh"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
