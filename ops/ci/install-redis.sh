#!/usr/bin/env bash
# Installs redis-server from Debian's packages: the tests start their own servers on free ports.
set -euo pipefail
if command -v redis-server >/dev/null; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
# the tests start their own servers; the packaged service is not needed
$SUDO service redis-server stop >/dev/null 2>&1 || true
redis-server --version
