#!/usr/bin/env bash
# Fetches one pinned JVM MQTT broker of the interop suite from Maven Central into the tool cache, once, with a
# launcher beside it: $TOOLS_BIN/<tool>-<version>/run, started by test/lib/brokers.ts in a directory that
# holds the broker's configuration.
# Usage: fetch-jvm-tool.sh hivemq|moquette
# Why a script: neither broker has a Debian package; both are published as Maven artifacts (HiveMQ CE as its
# embedded library, which needs a small main class: test/env/jvm/HiveMQTestBroker.java).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/env/versions.sh
. "$here/versions.sh"

tool=${1:?usage: fetch-jvm-tool.sh hivemq|moquette}
case "$tool" in
  hivemq) version=$HIVEMQ_VERSION; artifact=com.hivemq:hivemq-community-edition-embedded ;;
  moquette) version=$MOQUETTE_VERSION; artifact=io.moquette:moquette-broker ;;
  *) echo "fetch-jvm-tool.sh: unknown tool '$tool' (expected hivemq or moquette)" >&2; exit 2 ;;
esac

out="$TOOLS_BIN/$tool-$version"
if [ -x "$out/run" ]; then
  exit 0
fi
for bin in java mvn javac; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    echo "fetch-jvm-tool.sh: '$bin' is not installed; it is needed to fetch $tool $version (Debian packages openjdk-17-jdk-headless and maven)" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching $tool $version ($artifact) from Maven Central (first run only; cached in $TOOLS_BIN)" >&2
group=${artifact%%:*}
name=${artifact#*:}
cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mqtt2pg</groupId><artifactId>interop-$tool</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>$group</groupId><artifactId>$name</artifactId><version>$version</version></dependency>
  </dependencies>
</project>
POM
mkdir -p "$work/tool/lib"
mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DoutputDirectory="$work/tool/lib" >&2
# Heap capped: the suite runs on small machines beside PostgreSQL and the worker.
java_opts='-Xms64m -Xmx512m -XX:+UseSerialGC'
case "$tool" in
  hivemq)
    mkdir -p "$work/tool/classes"
    javac -d "$work/tool/classes" -cp "$work/tool/lib/*" "$here/jvm/HiveMQTestBroker.java"
    # Run in the broker's home directory (conf/config.xml).
    main="-cp \"\$dir/lib/*:\$dir/classes\" HiveMQTestBroker \"\$PWD\""
    ;;
  moquette)
    # Moquette's Server reads config/moquette.conf under the working directory.
    main="-cp \"\$dir/lib/*\" io.moquette.broker.Server"
    ;;
esac
cat >"$work/tool/run" <<RUN
#!/bin/sh
dir=\$(cd "\$(dirname "\$0")" && pwd)
exec java $java_opts $main "\$@"
RUN
chmod +x "$work/tool/run"
mkdir -p "$TOOLS_BIN"
rm -rf "$out.tmp"
mv "$work/tool" "$out.tmp"
mv "$out.tmp" "$out"
echo "fetched $out" >&2
