#!/usr/bin/env bash
# System tools the end-to-end tests drive for real: tmux (the TUI in a real
# terminal) and Chromium (the report rendered headless). Installed from Debian's
# packages when missing and when we are allowed to (root with apt); the tests
# that need them say why they skip otherwise.
set -u
need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]} from Debian's packages for the end-to-end tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >/tmp/redundancy-apt.log 2>&1 \
    || echo "could not install ${need[*]} (see /tmp/redundancy-apt.log); tests needing them will skip with that reason"
fi
exit 0
