#!/bin/sh
# Healthy when nginx answers /healthz (the one path without a login).
exec curl --fail --silent --show-error --max-time 5 --output /dev/null http://127.0.0.1:8080/healthz
