#!/bin/sh
# The worker: processes every job file in /srv/jobs and exits.
SERVICE=worker
. /usr/local/lib/app/common.sh

log "release $(release)"
for job in /srv/jobs/*.txt; do
	log "$(basename "$job" .txt): $(wc -w < "$job") words"
done
