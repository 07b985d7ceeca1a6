# syntax=docker/dockerfile:1
# Build: docker build -t spotter .
# Run:   docker run -p 8443:8443 -v spotter-data:/data spotter serve --addr 0.0.0.0:8443
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/spotter-dev/spotter/cli.version=${VERSION}" -o /out/spotter . && mkdir -p -m 700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/spotter /usr/local/bin/spotter
# A named volume copies this directory's owner and mode, so the non-root user can
# write it and no one else can read it (serve refuses a data dir others can read).
COPY --from=build --chown=65532:65532 --chmod=700 /out/data /data
ENV SPOTTER_DATA_DIR=/data
# distroless nonroot is uid 65532; the volume keeps the certificate, the embedded
# store and its master key across restarts.
VOLUME ["/data"]
USER nonroot:nonroot
EXPOSE 8443
ENTRYPOINT ["spotter"]
CMD ["serve", "--addr", "0.0.0.0:8443"]
