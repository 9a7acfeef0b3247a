#!/bin/sh
# Installs the Debian packages the build and the tests need, when missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -u

PACKAGES="gcc make liblua5.4-dev lua5.4 clang libclang-rt-14-dev mariadb-server mariadb-client python3 redis-server redis-tools"
# skynet.crypt, client.crypt, md5: libcrypto; ltls: libssl
PACKAGES="$PACKAGES libssl-dev"
# the metrics tests: a real Prometheus (and promtool) and headless chromium
PACKAGES="$PACKAGES prometheus chromium"
# the web tests: curl as an HTTP client, openssl to make certificates
PACKAGES="$PACKAGES curl openssl"
[ -n "${EXTRA_PACKAGES:-}" ] && PACKAGES="$PACKAGES $EXTRA_PACKAGES"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing" >&2
	echo "run: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null 2>&1 || {
	apt-get update -q >/dev/null 2>&1
	apt-get install -y -q $missing >/dev/null || { echo "apt-get install$missing failed" >&2; exit 1; }
}
