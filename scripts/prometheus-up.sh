#!/usr/bin/env bash
# Install Debian's Prometheus (the server and promtool) when missing. Idempotent. The
# package's own service is not used: the tests start their own `prometheus` process with
# a configuration, storage folder and port of their own (tests/observability/).
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# The package's post-install step may try to start its service: refused here (policy-rc.d
# answers 101), nothing of it is needed.
apt-get install -y -q prometheus >&2 || { apt-get update -q >&2 && apt-get install -y -q prometheus >&2; }
