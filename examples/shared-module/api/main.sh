#!/bin/sh
echo "api: ready as $(id -un)"
