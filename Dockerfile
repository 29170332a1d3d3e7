# syntax=docker/dockerfile:1
# plaza: one image for every mode (api, live, fetch-*, log-visitors, migrate, all); the mode comes from PLAZA_MODE.
#
#   docker build -t plaza .
#   docker run -e PLAZA_MODE=all -p 3000:3000 plaza          # the embedded tier, demo event included
#
# Stages: `chef` (toolchain + cargo-chef), `planner` (dependency recipe from the manifests), `builder` (dependencies
# compiled from the recipe alone, so a source change does not rebuild them; then the binary), `client` (the web
# client's Vite build), `runtime` (the binary, the client, the content defaults and the migrations on debian-slim,
# as an unprivileged user).
# scripts/check-deploy lints this file and runs the binary with exactly what the runtime stage COPYs.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The patched engineioxide ([patch.crates-io]) is a dependency, not a workspace member: the recipe has no skeleton
# of it, so its real sources must be there before the dependencies are cooked.
COPY server/vendor/ server/vendor/
RUN cargo chef cook --release --locked --recipe-path recipe.json --package plaza --bin plaza
COPY . .
RUN cargo build --release --locked --package plaza --bin plaza

# The attendee web client (Vite build), served by plaza from CLIENT_DIR.
FROM node:20-bookworm-slim AS client
WORKDIR /src/client
COPY client/package.json client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client/ ./
RUN npm run build

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to Pretalx, Tito, SMTP, managed Postgres/Redis; git (+ openssh-client for ssh remotes):
# fetch-content clones the content repository with the git CLI. Versions are not pinned on purpose: a rebuild
# picks up Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 plaza \
    && useradd --system --uid 10001 --gid plaza --home-dir /app --shell /usr/sbin/nologin plaza \
    && install -d -o plaza -g plaza /app /app/data
WORKDIR /app
COPY --from=builder /src/target/release/plaza /usr/local/bin/plaza
COPY content/ /app/content/
COPY migrations/ /app/migrations/
COPY --from=client /src/client/dist /app/client/
# Containers listen on every interface; logs are JSON lines for the cluster's collector.
ENV PLAZA_MODE=api \
    CLIENT_DIR=client \
    LISTEN_ADDR=0.0.0.0:3000 \
    LOG_FORMAT=json
USER 10001:10001
EXPOSE 3000
# /healthz answers while the process is alive (Kubernetes probes it with httpGet; this is for plain Docker and
# compose). bash's /dev/tcp avoids shipping curl. Jobs (fetch-*, migrate) exit before the first check.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3000 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["plaza"]
