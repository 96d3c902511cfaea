# Sourced by the end-to-end and load scripts: a throwaway clickhouse-server
# (Debian's package, `make deps`) in its own directory, on loopback, with
# the smallest configuration that 18.16.1 and current releases start with.
#   ch_start DIR   starts it; sets CH_PORT (native), CH_HTTP and CH_PID
#   ch_stop        stops it (SIGTERM, then SIGKILL)
# CLICKHOUSE_MALLOC_CONF is the server's jemalloc configuration; empty for
# jemalloc's defaults (deploy/README.md, "ClickHouse's allocator").

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

ch_start() {
  local dir=$1
  mkdir -p "$dir/data"
  CH_PORT=$(free_port); CH_HTTP=$(free_port); local inter; inter=$(free_port)
  cat > "$dir/config.xml" <<X
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/server.log</log><errorlog>$dir/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$CH_PORT</tcp_port><http_port>$CH_HTTP</http_port><interserver_http_port>$inter</interserver_http_port>
  <path>$dir/data/</path><tmp_path>$dir/data/tmp/</tmp_path>
  <user_files_path>$dir/data/user_files/</user_files_path><format_schema_path>$dir/data/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size><uncompressed_cache_size>268435456</uncompressed_cache_size>
  <timezone>UTC</timezone>
</yandex>
X
  cat > "$dir/users.xml" <<X
<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
X
  # Debian's 18.16 links the system jemalloc, which by default hands freed
  # pages back to the kernel after 10 s: each insert then faults its
  # buffers in again, and page faults are dear on virtual machines.
  (cd "$dir" && MALLOC_CONF=${CLICKHOUSE_MALLOC_CONF-dirty_decay_ms:-1,muzzy_decay_ms:-1} \
    exec clickhouse-server --config-file="$dir/config.xml" > "$dir/stdout.log" 2>&1) &
  CH_PID=$!
  for _ in $(seq 120); do
    curl -fs "http://127.0.0.1:$CH_HTTP/ping" >/dev/null 2>&1 && return 0
    kill -0 "$CH_PID" 2>/dev/null || break
    sleep 0.5
  done
  echo "clickhouse-server did not start; see $dir/server.err.log" >&2
  return 1
}

ch_stop() {
  [ -n "${CH_PID:-}" ] || return 0
  kill "$CH_PID" 2>/dev/null
  for _ in $(seq 40); do kill -0 "$CH_PID" 2>/dev/null || { CH_PID=; return 0; }; sleep 0.5; done
  kill -9 "$CH_PID" 2>/dev/null; CH_PID=
}
