#!/usr/bin/env bash
# Installs W8's librdkafka client — confluent-kafka from PyPI, whose wheel bundles
# librdkafka — into .cache/rdkafka-python, once (no root, no virtualenv: PYTHONPATH).
# `npm run bench:broker` runs this first; the tests do not need it.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.16.1
dest=.cache/rdkafka-python
stamp="$dest/.complete-$VERSION"
if [ -f "$stamp" ]; then exit 0; fi
if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  echo "rdkafka-python: W8 needs python3 with pip (apt-get install python3-pip)" >&2
  exit 1
fi
rm -rf "$dest"
echo "rdkafka-python: installing confluent-kafka $VERSION (bundles librdkafka) into $dest, once" >&2
python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$dest" "confluent-kafka==$VERSION"
touch "$stamp"
