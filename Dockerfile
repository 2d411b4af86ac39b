# syntax=docker/dockerfile:1
#
# reportit: a static binary in a distroless image, run as a non-root user.
#   docker build -t reportit --build-arg VERSION=$(git describe --always) .

# Build stage: the Go toolchain, the module cache, the sources.
FROM golang:1.26.10-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# Static: no cgo (the SQLite driver is pure Go), so the binary needs no libc
# and runs on distroless/static.
ENV CGO_ENABLED=0 GOOS=linux
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/reportit ./server \
 && mkdir -p /out/data

# Run stage: no shell, no package manager; user nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reportit /usr/local/bin/reportit
# An empty data directory owned by the runtime user: a named volume mounted
# on it starts with this ownership.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV REPORTIT_ADDR=0.0.0.0:8080 \
    REPORTIT_DATA_DIR=/data
EXPOSE 8080
VOLUME ["/data"]
# No curl or wget in the image: the binary probes its own /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/reportit", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/reportit"]
CMD ["serve"]
