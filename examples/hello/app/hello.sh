#!/bin/sh
# Greets its argument and says how many words the image was built with.
echo "${GREETING:-Hello}, ${1:-world}! ($(cat /app/index.txt))"
