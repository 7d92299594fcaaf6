#!/bin/sh
echo "worker: processing jobs as $(id -un)"
