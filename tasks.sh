#!/usr/bin/env bash
# The project's commands. Each one does its own set-up first (idempotent: seconds when
# nothing changed): Debian packages for FUSE mounts when run as root, a virtual environment
# in .venv with s3lab and its pinned dependencies (requirements.lock).
#
#   bash tasks.sh book     build the site into _build/html, executing every notebook on the sandbox
#   bash tasks.sh test     run every test: unit, FUSE mounts, each notebook on moto and on SeaweedFS
#   bash tasks.sh bench    benchmarks: s3lab against the aws command on the same endpoint
#   bash tasks.sh setup    only the set-up
#   bash tasks.sh outputs  re-execute the notebooks in place (after editing one), then commit them
#   bash tasks.sh lint     ruff
set -euo pipefail
cd "$(dirname "$0")"
VENV=${S3LAB_VENV:-$PWD/.venv}
# gpg: the install tests make a signing key and sign stand-ins (s3lab itself verifies with
# gpgv, which every Debian and Ubuntu system already has). podman, runc and busybox-static:
# the containers test runs a checkpoint writer in a container built from local parts.
# chromium: the site test opens every page of the built book in it (headless).
SYSTEM_PACKAGES=(fuse3 s3fs python3-venv gpg podman runc busybox-static chromium)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

setup_system() {
  local missing=() pkg
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    say "not Debian/Ubuntu: install these yourself if mounts fail: ${missing[*]}"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing system packages: ${missing[*]} -- fix: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
}

setup_python() {
  local want stamp="$VENV/.s3lab-setup"
  want=$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  say "installing Python packages into $VENV (first time: a few minutes; log: $VENV/setup.log)"
  python3 -m venv "$VENV"
  if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
    "$VENV/bin/python" -m pip install -c requirements.lock -e '.[test]' &&
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3; } >"$VENV/setup.log" 2>&1; then
    tail -20 "$VENV/setup.log" >&2
    echo "error: installing Python packages failed -- fix: read $VENV/setup.log, then run again" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
}

setup() {
  setup_system
  setup_python
  export PATH="$VENV/bin:$PATH"
  # Keep the learner's own AWS set-up out of builds and tests.
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null BOTO_CONFIG=/dev/null
  unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  book)
    setup
    say "building the site (notebooks executed on the local sandbox)"
    # A sandbox of its own, so a learner's running sandbox is left alone.
    export S3LAB_HOME="$PWD/_build/sandbox"
    # Warnings are errors (-W), all of them reported (--keep-going). A notebook is executed only
    # when its code changed since the last build (execute_notebooks: cache, in _config.yml), so
    # the sandboxes are started only when scripts/book_cache.py names one to execute.
    build=(jupyter-book build --all -W --keep-going . "$@")
    if [ $# -eq 0 ] && python scripts/book_cache.py >/dev/null; then  # extra flags: may build elsewhere
      say "every notebook's outputs are in _build/.jupyter_cache: none executed, no sandbox"
      "${build[@]}"
    else
      s3lab sandbox run --backend all -- "${build[@]}"
    fi
    echo "site: $PWD/_build/html/index.html"
    ;;
  test)
    setup
    python -m pytest "$@"
    ;;
  bench)
    setup
    python bench/run.py "$@"
    ;;
  outputs)
    setup
    export S3LAB_HOME="$PWD/_build/sandbox"
    s3lab sandbox run --backend all -- python scripts/refresh_outputs.py "$@"
    ;;
  lint)
    setup
    ruff check . && ruff format --check s3lab tests bench scripts
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2
    ;;
esac
