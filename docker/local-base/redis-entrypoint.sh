#!/bin/sh
# redis-server with protected mode off, as in the official image; any other command as given.
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server "$@" --protected-mode no
fi
exec "$@"
