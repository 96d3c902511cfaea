# kaudit's image for those who build with Docker:
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t ghcr.io/kaudit/kaudit:dev .
# The tested path (no container engine needed) is `make image`
# (cmd/kaudit-image); both give the same layout: a static kaudit at
# /usr/local/bin/kaudit, user 65532, no shell, no package manager, the spool
# at /var/lib/kaudit/spool (the only path kaudit writes: run it with a
# read-only root filesystem).

# --- build: a static binary, stamped with the version -----------------------
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" \
      -o /out/usr/local/bin/kaudit ./cmd/kaudit \
 && mkdir -p /out/etc/kaudit /out/etc/ssl/certs /out/var/lib/kaudit/spool \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:kaudit:/var/lib/kaudit:/sbin/nologin\n' > /out/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /out/etc/group \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/

# --- the image: nothing but the files above ---------------------------------
FROM scratch
COPY --from=build /out/ /
# The spool directory belongs to kaudit's user (COPY --from does not keep
# owners).
COPY --from=build --chown=65532:65532 --chmod=0700 /out/var/lib/kaudit/spool /var/lib/kaudit/spool
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="kaudit" \
      org.opencontainers.image.source="https://github.com/kaudit/kaudit" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$COMMIT"
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /
EXPOSE 8443/tcp 9443/tcp
VOLUME ["/var/lib/kaudit/spool"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/kaudit"]
CMD ["serve", "--config", "/etc/kaudit/kaudit.yaml"]
