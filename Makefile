# The test command of README.md: installs what the tests need when it is missing
# (ClickHouse, ZooKeeper, Chromium and jq from Debian; playwright-core from npm), then vets and runs every test.
.PHONY: test deps vet bench

test: deps vet
	go test -count=1 -timeout 25m ./...

deps:
	@command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1 || { \
	  echo "installing clickhouse-server and clickhouse-client from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client jq >/dev/null; }
	@test -f /usr/share/java/zookeeper.jar && command -v java >/dev/null 2>&1 || { \
	  echo "installing zookeeper from Debian (the ClickHouse cluster of the store.cluster tests, store/clickhouse/chtest)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null; }
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium from Debian (browser tests of the analyst view, investigate/)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -f investigate/e2e/node_modules/playwright-core/package.json || { \
	  echo "installing playwright-core from npm into investigate/e2e (it drives Debian's chromium; no browser download)"; \
	  cd investigate/e2e && npm ci --no-audit --no-fund --ignore-scripts; }

vet:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

bench:
	go test -run '^$$' -bench . -benchtime 3x ./...
