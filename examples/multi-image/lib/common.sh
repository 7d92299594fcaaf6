# Shared by every image built from the common stage.

# log prints a line tagged with the service's name.
log() {
	echo "[$SERVICE] $*"
}

# release prints the release the common stage was built for.
release() {
	cat /etc/app-release
}
