# shellcheck shell=bash
# Prerequisites of the test environment: Debian packages and the Go-built tools (sourced by lib.sh).

APT_UPDATED=
# need_pkg BINARY PACKAGE: install PACKAGE with apt when BINARY (a name on PATH or an absolute path) is missing.
need_pkg() {
  local bin=$1 pkg=$2
  if [ "${bin#/}" != "$bin" ]; then [ -x "$bin" ] && return 0; else command -v "$bin" >/dev/null 2>&1 && return 0; fi
  if ! is_root; then
    die "'$bin' is missing: install the Debian package '$pkg' (sudo apt-get install -y $pkg) or run this script as root"
  fi
  command -v apt-get >/dev/null 2>&1 || die "'$bin' is missing and apt-get is not available: install '$pkg' by hand"
  log "installing $pkg (provides $bin)"
  if [ -z "$APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed (needed to install $pkg)"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >&2 \
    || die "apt-get install $pkg failed"
}

# Binary of a Go-built tool (etcd, kube-apiserver, minio, kubectl, the interop brokers comqtt, comqtt-cluster and mochi), built
# once into $TOOLS_BIN; the JVM brokers (hivemq, moquette) are a launcher beside their jars.
tool_path() {
  case "$1" in
    etcd) printf '%s' "$TOOLS_BIN/etcd-$ETCD_VERSION" ;;
    minio) printf '%s' "$TOOLS_BIN/minio-$MINIO_VERSION" ;;
    comqtt) printf '%s' "$TOOLS_BIN/comqtt-$COMQTT_VERSION" ;;
    comqtt-cluster) printf '%s' "$TOOLS_BIN/comqtt-cluster-$COMQTT_VERSION" ;;
    mochi) printf '%s' "$TOOLS_BIN/mochi-$MOCHI_VERSION" ;;
    hivemq) printf '%s' "$TOOLS_BIN/hivemq-$HIVEMQ_VERSION/run" ;;
    moquette) printf '%s' "$TOOLS_BIN/moquette-$MOQUETTE_VERSION/run" ;;
    kube-apiserver | kubectl) printf '%s' "$TOOLS_BIN/$1-$KUBERNETES_VERSION" ;;
  esac
}
need_tool() {
  local tool=$1 bin
  bin=$(tool_path "$tool")
  [ -x "$bin" ] && return 0
  mkdir -p "$TOOLS_BIN"
  # The lock keeps two concurrent runs from building the same tool at once.
  case "$tool" in
    hivemq | moquette)
      # The JVM brokers of the interop suite: a JDK (javac compiles HiveMQ's launcher) and Maven fetch them.
      need_pkg javac openjdk-17-jdk-headless
      need_pkg mvn maven
      flock "$TOOLS_BIN/.build-$tool.lock" "$ENV_LIB_DIR/fetch-jvm-tool.sh" "$tool" \
        || die "fetching $tool failed (see the output above); it needs Java 17, Maven and network access to Maven Central"
      ;;
    *)
      flock "$TOOLS_BIN/.build-$tool.lock" "$ENV_LIB_DIR/build-go-tool.sh" "$tool" \
        || die "building $tool failed (see the output above); it needs Go >= 1.24 ('go' on PATH) and network access to the Go module proxy"
      ;;
  esac
  [ -x "$bin" ] || die "$tool: $bin is missing after its build"
}

# kubectl from PATH, else built from source.
kubectl_path() {
  if command -v kubectl >/dev/null 2>&1; then command -v kubectl; else tool_path kubectl; fi
}

need_common() {
  need_pkg curl curl
  need_pkg openssl openssl
  need_pkg setpriv util-linux
  need_pkg flock util-linux
  need_pkg ss iproute2
}
