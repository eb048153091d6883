#!/usr/bin/env bash
# Debian's Chromium and its driver for the console's browser tests (tests/console), and CJK
# fonts so that screenshots show the Chinese labels. Idempotent: quick when installed.
# Selenium is pointed at these binaries; it never downloads a browser or a driver.
set -euo pipefail
packages=(chromium chromium-driver fonts-noto-cjk)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "browser-up: missing ${missing[*]}: run as root, or apt-get install them" >&2
    exit 1
  fi
  echo "browser-up: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "browser-up: $(/usr/bin/chromium --version 2>/dev/null)" >&2
