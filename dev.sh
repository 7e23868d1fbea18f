#!/usr/bin/env bash
# Set up and run ai-trader on a fresh Debian machine.
#   ./dev.sh run    install the package into .venv and start the platform on embedded defaults
#   ./dev.sh test   install everything (servers included) and run lint, type checks and all tests
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

ensure_venv() {
  local extras=$1 stamp
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
      # Debian's python3 ships venv separately.
      rm -rf "$VENV"
      apt_install python3-venv
      "$PY" -m venv "$VENV"
    fi
  fi
  stamp="$VENV/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras//[^a-z]/_}"
  if [ ! -f "$stamp" ]; then
    log "installing ai-trader[$extras] into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[$extras]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

need_apt=()
queue_apt() { need_apt+=("$@"); }

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing system packages: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_system_packages() {
  command -v redis-server >/dev/null 2>&1 || queue_apt redis-server
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || queue_apt postgresql
  command -v chromium >/dev/null 2>&1 || queue_apt chromium chromium-driver
  command -v npm >/dev/null 2>&1 || queue_apt nodejs npm
  # tests/integration/deploy/test_image.py builds the image's virtualenv from Debian's python3,
  # which an unprivileged user can run (an interpreter under /root is out of its reach)
  /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || queue_apt python3-venv
  if [ ${#need_apt[@]} -gt 0 ]; then
    apt_install "${need_apt[@]}"
  fi
  if [ ! -x .tools/node/node_modules/.bin/azurite-blob ]; then
    log "installing azurite (npm) into .tools/node"
    npm install --prefix .tools/node --no-audit --no-fund --silent azurite@3.35.0 >/dev/null
  fi
}

# checkov (infra/ and Dockerfile scan, tests/integration/deploy/test_checkov.py) lives in its own
# virtualenv: its pins (packaging<24) conflict with pytest and ray.
ensure_checkov() {
  local spec
  spec=$("$VENV/bin/python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["iac"][0])')
  if [ ! -x .venv-checkov/bin/checkov ] || ! .venv-checkov/bin/python -m pip show -q checkov >/dev/null 2>&1; then
    log "installing $spec into .venv-checkov"
    "$PY" -m venv .venv-checkov
    .venv-checkov/bin/python -m pip install --quiet "$spec"
  fi
}

case "${1:-}" in
  run)
    ensure_venv all
    log "starting ai-trader (Ctrl-C stops it)"
    exec "$VENV/bin/ai-trader" up "${@:2}"
    ;;
  test)
    ensure_system_packages
    ensure_venv "all,dev"
    ensure_checkov
    export AI_TRADER_REQUIRE_CHECKOV=1
    log "ruff"
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    log "mypy (strict on app/)"
    "$VENV/bin/mypy"
    log "pytest"
    set +e
    "$VENV/bin/pytest" "${@:2}"
    code=$?
    set -e
    # 5 means pytest collected no tests: treat as failure so an empty run is never green.
    exit $code
    ;;
  *)
    echo "usage: ./dev.sh run | test [pytest args]" >&2
    exit 2
    ;;
esac
