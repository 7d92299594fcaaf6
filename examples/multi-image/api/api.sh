#!/bin/sh
# The API service: serves /srv/api over HTTP with busybox httpd.
SERVICE=api
. /usr/local/lib/app/common.sh

if [ "$1" = "--version" ]; then
	echo "api $(release)"
	exit 0
fi
log "release $(release), listening on port ${PORT:-8080}"
exec httpd -f -p "${PORT:-8080}" -h /srv/api
