#!/usr/bin/env bash
# Fetches Apache Kafka's jars (kafka_2.13 and its dependencies, Maven Central) into
# .cache/kafka-tools/lib, once: the compatibility tests run Kafka's own DumpLogSegments
# on what the partition log writes. Needs java (17+) and mvn; `npm test` runs this first.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/kafka-tools
stamp="$dest/lib/.complete-$(sha256sum scripts/kafka-tools/pom.xml | cut -c1-16)"
if [ -f "$stamp" ]; then exit 0; fi
for tool in java mvn; do
  if ! command -v "$tool" >/dev/null; then
    echo "kafka-tools: '$tool' is not installed; the Kafka compatibility tests need Java 17+ and Maven (apt-get install openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
done
rm -rf "$dest/lib"
echo "kafka-tools: fetching Apache Kafka's jars from Maven Central (once, ~45 MB)" >&2
mvn -q -B -Dstyle.color=never -f scripts/kafka-tools/pom.xml dependency:copy-dependencies -DoutputDirectory="$PWD/$dest/lib"
touch "$stamp"
