# Multi-stage build of the pipeline's binaries. librdkafka is built from source
# by rdkafka-sys (needs gcc, make, zlib), with OpenSSL built from source by
# openssl-src (needs perl, in the image); protobuf is compiled by protox (no protoc).
# `docker build --build-arg CUSTOMS_REVISION=$(git rev-parse HEAD)` labels
# customs_<service>_build_info with the source revision.
FROM rust:1.88-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends zlib1g-dev && rm -rf /var/lib/apt/lists/*
ARG CUSTOMS_REVISION=unknown
ENV CUSTOMS_REVISION=$CUSTOMS_REVISION
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      --bin customs-ingest --bin customs-normalize --bin customs-aggregate --bin customs \
 && mkdir -p /out && cp target/release/customs-ingest target/release/customs-normalize \
      target/release/customs-aggregate target/release/customs /out/

# One image for all three services and the `customs` CLI (docker-compose.yml's
# feed generator); each container picks its binary with `entrypoint`.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates zlib1g \
 && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 customs
COPY --from=build /out/ /usr/local/bin/
# Health probe for compose (HTTP GET of /metrics, TCP connect to gRPC): bash only,
# which bookworm-slim has. Kubernetes uses its built-in httpGet and grpc probes.
COPY deploy/docker/customs-probe /usr/local/bin/customs-probe
COPY deploy/config/ /etc/customs/
USER customs
# 50051 gRPC (aggregate); 9101-9103 /metrics (ingest, normalize, aggregate).
EXPOSE 50051 9101 9102 9103
ENTRYPOINT ["/usr/local/bin/customs-ingest"]
