# The test command of README.md: installs what the tests need when it is missing
# (ClickHouse, ZooKeeper, Alertmanager, Chromium, jq, etcd and umoci from Debian; playwright-core from npm;
# Helm, kube-apiserver and kubectl built from the Go module proxy into ~/.cache/kaudit), then vets,
# builds the container image and runs every test.
.PHONY: test deps tools vet image manifests bench

# Stamped into `kaudit version`, kaudit_build_info and the image's labels.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The image's creation time and its files' times: the commit's, so that the
# same commit gives the same image digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE     ?= ghcr.io/kaudit/kaudit
IMAGE_OUT ?= _output
# Space-separated: `make image PLATFORMS="linux/amd64 linux/arm64"` writes a multi-platform index.
PLATFORMS ?= linux/$(shell go env GOARCH)
LDFLAGS    = -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# Each step says how long it took (the CI budget is 90 minutes; this stays well under 30).
STEP = @start=$$(date +%s); echo "== $(1)"; $(2) && echo "== $(1): $$(( $$(date +%s) - start )) s"

test: deps vet tools
	$(call STEP,make image,$(MAKE) --no-print-directory image)
	$(call STEP,go test,go test -count=1 -timeout 25m ./...)

deps:
	@command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1 || { \
	  echo "installing clickhouse-server and clickhouse-client from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client jq >/dev/null; }
	@command -v prometheus-alertmanager >/dev/null 2>&1 || { \
	  echo "installing prometheus-alertmanager from Debian (notification tests, live/notify/amtest)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; }
	@test -f /usr/share/java/zookeeper.jar && command -v java >/dev/null 2>&1 || { \
	  echo "installing zookeeper from Debian (the ClickHouse cluster of the store.cluster tests, store/clickhouse/chtest)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null; }
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium from Debian (browser tests of the analyst view, investigate/)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v etcd >/dev/null 2>&1 && command -v umoci >/dev/null 2>&1 && test -f /etc/ssl/certs/ca-certificates.crt || { \
	  echo "installing etcd-server (the test apiserver's store), umoci (unpacks the image in its test) and ca-certificates (shipped in the image) from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server umoci ca-certificates >/dev/null; }
	@test -f investigate/e2e/node_modules/playwright-core/package.json || { \
	  echo "installing playwright-core from npm into investigate/e2e (it drives Debian's chromium; no browser download)"; \
	  cd investigate/e2e && npm ci --no-audit --no-fund --ignore-scripts; }

# Helm, kube-apiserver and kubectl from the Go module proxy, built once per
# machine into ~/.cache/kaudit (KAUDIT_CACHE): minutes the first time, instant after.
tools:
	$(call STEP,helm (deploy/dev/helm.sh),deploy/dev/helm.sh --path >/dev/null)
	$(call STEP,kube-apiserver and kubectl (deploy/dev/cluster/build.sh),deploy/dev/cluster/build.sh >/dev/null)

vet:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The container image, without a container engine: a static kaudit per
# platform, then cmd/kaudit-image writes an OCI layout ($(IMAGE_OUT)/image)
# and, for one platform, a tarball for docker/podman load
# ($(IMAGE_OUT)/kaudit-image.tar). Push with e.g.
# `skopeo copy oci:$(IMAGE_OUT)/image:$(VERSION) docker://$(IMAGE):$(VERSION)`.
image:
	@set -e; bins=""; for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; out=$(IMAGE_OUT)/$$os-$$arch/kaudit; \
	  echo "go build $$out ($(VERSION), $(COMMIT))"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -tags timetzdata -ldflags "$(LDFLAGS)" -o $$out ./cmd/kaudit; \
	  bins="$$bins --binary $$p=$$out"; done; \
	tarball=; [ $(words $(PLATFORMS)) = 1 ] && tarball="--tarball $(IMAGE_OUT)/kaudit-image.tar"; \
	go run ./cmd/kaudit-image $$bins --version $(VERSION) --revision $(COMMIT) --created $(SOURCE_DATE_EPOCH) \
	  --layout $(IMAGE_OUT)/image $$tarball --tag $(IMAGE):$(VERSION)

# deploy/kubernetes/kaudit.yaml from the Helm chart (a test fails when it is stale).
manifests:
	deploy/kubernetes/generate.sh > deploy/kubernetes/kaudit.yaml.tmp && mv deploy/kubernetes/kaudit.yaml.tmp deploy/kubernetes/kaudit.yaml

bench:
	go test -run '^$$' -bench . -benchtime 3x ./...
