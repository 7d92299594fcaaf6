#!/bin/sh
# The team's service launcher: reads the service's config, then runs it.
set -e
. "/srv/$1/service.conf"
echo "[$name] port $port, trusting $(sed -n 2p /etc/ssl/certs/company-ca.pem | cut -d' ' -f1-3)"
exec "/srv/$1/main.sh"
