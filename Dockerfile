# optd container image: a multi-stage build on Debian bookworm.
#   docker build -t optd .            (or: podman build --isolation=chroot -t optd .)
#   docker run --rm -p 50051:50051 optd
# The runtime stage has only the shared libraries optd and optctl need, runs
# as an unprivileged user, and listens on all interfaces of the container.

FROM debian:bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends build-essential cmake ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libeigen3-dev libspdlog-dev zlib1g-dev libcpp-httplib-dev \
      libjs-chart.js \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY common common
COPY proto proto
COPY solvers solvers
COPY server server
COPY client client
COPY bench bench
RUN mkdir -p tests && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DOPTD_BUILD_TESTS=OFF \
    && cmake --build /build --target optd optctl \
    && strip /build/server/optd /build/client/optctl

FROM debian:bookworm AS runtime
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends libgrpc++1.51 libgrpc29 libprotobuf32 libspdlog1.10 \
      libabsl20220623 libcpp-httplib0.11 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/optd --create-home optd
COPY --from=build /build/server/optd /build/client/optctl /usr/local/bin/
USER 10001
WORKDIR /var/lib/optd
VOLUME ["/var/lib/optd"]
# 50051: gRPC (optd.v1.Optimizer, health, reflection); 9090: Prometheus
# metrics (GET /metrics), the JSON API (GET /api/v1/...) and the dashboard
# (/dashboard/; its pages and Chart.js are inside the optd binary), see
# docs/dashboard.md.
EXPOSE 50051 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["optctl", "--server=127.0.0.1:50051", "health"]
# Configuration: flags after the image name, or environment variables
# FLAGS_<flag> (e.g. FLAGS_peers, FLAGS_replica_index), which override the
# defaults below and yield to flags given after the image name.
ENTRYPOINT ["optd", "--host=0.0.0.0", "--port=50051", "--data_dir=/var/lib/optd", "--metrics_port=9090", "--tryfromenv=host,port,port_file,max_sessions,max_dimension,max_message_bytes,log_level,data_dir,durable_tell_max_dimension,default_checkpoint_interval,session_ttl_seconds,lease_seconds,wal_max_dimension,wal_segment_bytes,storage_retry_seconds,commit_threads,peers,replica_index,replica_index_from_hostname,shard_call_timeout_seconds,release_freed_memory,shutdown_grace_seconds,tls_cert,tls_key,tls_client_ca,peer_tls_ca,peer_tls_cert,peer_tls_key,peer_tls_server_name,tokens_file,max_sessions_per_tenant,tenant_memory_bytes,max_concurrent_streams,metrics_port,metrics_host,server_memory_bytes,http_api_allow_unauthenticated,dashboard"]
