# Multi-stage build: a static binary on a distroless-style scratch image,
# running as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/sanctuary ./cmd/sanctuary \
 && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/sanctuary-bots ./cmd/sanctuary-bots

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/ /usr/local/bin/
USER 65534:65534
# HTTP (websocket /ws, web client, /metrics, /healthz), the ICE UDP port and
# the ICE TCP port (the server's defaults outside dev mode).
EXPOSE 8080/tcp 7882/udp 7881/tcp
ENV SANCTUARY_LISTEN=0.0.0.0:8080
ENTRYPOINT ["/usr/local/bin/sanctuary"]
