#!/usr/bin/env bash
# The project's commands. Each one does its own set-up first (idempotent: seconds when
# nothing changed): Debian packages for FUSE mounts when run as root, a virtual environment
# in .venv with s3lab and its pinned dependencies (requirements.lock).
#
#   bash tasks.sh lab      learners: set up, start both sandboxes, open JupyterLab at notebooks/
#                          (--check: run every notebook in the lab's kernel instead, print a table)
#   bash tasks.sh book     build the site into _build/html, executing every notebook on the sandbox
#   bash tasks.sh test     run every test: unit, FUSE mounts, each notebook on moto and on SeaweedFS
#   bash tasks.sh bench    benchmarks: s3lab against the aws command and the server's ceiling,
#                          results in bench/results/ (--skip-build, --size 256MiB, --quick)
#   bash tasks.sh setup    only the set-up (S3LAB_PYTHON=/path/to/python3 picks the interpreter)
#   bash tasks.sh outputs  re-execute the notebooks in place (after editing one), then commit them
#   bash tasks.sh lint     ruff and mypy (the test command runs it too)
#   bash tasks.sh lock     maintainers: re-resolve requirements.lock with uv (--upgrade to update)
set -euo pipefail
cd "$(dirname "$0")"
VENV=${S3LAB_VENV:-$PWD/.venv}
# gpg: the install tests make a signing key and sign stand-ins (s3lab itself verifies with
# gpgv, which every Debian and Ubuntu system already has). podman, runc and busybox-static:
# the containers test runs a checkpoint writer in a container built from local parts.
# python3-venv: Debian's own python3 makes no virtual environment without it.
# chromium: the site test opens every page of the built book in it (headless).
SYSTEM_PACKAGES=(fuse3 s3fs python3-venv gpg podman runc busybox-static chromium)

# ceph-mon ceph-osd radosgw ceph-common: the opt-in ceph sandbox (Kopah's own software, started
# by the Kopah chapter and its tests); s3cmd: the Kopah chapter's second client.
SYSTEM_PACKAGES+=(ceph-mon ceph-osd radosgw ceph-common s3cmd)

# The Pythons the project claims: requires-python's lower bound in pyproject.toml (the lock is
# resolved for it: 3.11.0) up to [tool.s3lab] newest-python, the newest the lock is checked for.
OLDEST_PYTHON=$(sed -n 's/^requires-python = ">=\([0-9]*\.[0-9]*\)"$/\1/p' pyproject.toml)
NEWEST_PYTHON=$(sed -n 's/^newest-python = "\([0-9]*\.[0-9]*\)"$/\1/p' pyproject.toml)
# The Python a fresh Debian 12 or later has: the test command also sets up and runs a fast
# subset of the tests with it (see test_distro).
DISTRO_PYTHON=${S3LAB_DISTRO_PYTHON:-/usr/bin/python3}
# uv resolves the lock for a Python it does not have; only maintainers need it (bash tasks.sh lock).
UV_VERSION=0.13.9

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The kernel the notebooks name (python3), registered in the venv under a clear display name.
KERNEL_DISPLAY="Python (s3lab)"

# With "optional" (the lab path), a non-root learner without the FUSE packages gets a note and
# goes on: every chapter but the three that mount a bucket (60, 70, 85) needs none of them.
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
  if [ "$(id -u)" -ne 0 ] && [ "${1:-}" = optional ]; then
    say "note: the mount chapters (60, 70 and 85, which mount a bucket) need system packages; to run them: sudo apt-get install -y ${missing[*]}"
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

fail() { echo "error: $*" >&2; exit 1; }

# "VERSION REALPATH" of the interpreter $1 (a name on PATH or a path), or nothing if it does not run.
python_info() {
  { "$1" -c 'import os, sys; print("%d.%d.%d" % sys.version_info[:3], os.path.realpath(sys.executable))' \
    2>/dev/null || true; } | tail -1
}

# Is version $1 (X.Y.Z) at least OLDEST_PYTHON?
new_enough() {
  local major minor oldest_major=${OLDEST_PYTHON%%.*} oldest_minor=${OLDEST_PYTHON#*.}
  IFS=. read -r major minor _ <<<"$1"
  ((major > oldest_major || (major == oldest_major && minor >= oldest_minor)))
}

# Sets PYTHON and PYTHON_VERSION: S3LAB_PYTHON when set, else the first new enough of python3,
# python3.11, python3.12, ... on PATH; else one line that says how to get one.
pick_python() {
  local works="Python $OLDEST_PYTHON to $NEWEST_PYTHON (Debian 12 and 13, Ubuntu 24.04 and later)"
  local get="sudo apt-get install python3.11 python3.11-venv, or conda env create -f environment.yml && conda activate s3lab"
  local info candidate minor seen=()
  if [ -n "${S3LAB_PYTHON:-}" ]; then
    info=$(python_info "$S3LAB_PYTHON")
    [ -n "$info" ] || fail "S3LAB_PYTHON=$S3LAB_PYTHON does not run -- fix: point it at $works, or unset it"
    new_enough "${info%% *}" ||
      fail "S3LAB_PYTHON=$S3LAB_PYTHON is Python ${info%% *}; s3lab needs $works -- fix: $get"
  else
    for candidate in python3 $(for ((minor = ${OLDEST_PYTHON#*.}; minor <= ${NEWEST_PYTHON#*.}; minor++)); do
      echo "python3.$minor"; done); do
      command -v "$candidate" >/dev/null || continue
      info=$(python_info "$candidate")
      [ -n "$info" ] || continue
      new_enough "${info%% *}" && break
      seen+=("$candidate is ${info%% *}")
      info=""
    done
    [ -n "$info" ] ||
      fail "no new enough Python on PATH (${seen[*]:-no python3}); s3lab needs $works -- fix: $get"
  fi
  PYTHON_VERSION=${info%% *}
  PYTHON=${info#* }
  local minor_now=${PYTHON_VERSION#*.}
  if ((${minor_now%%.*} > ${NEWEST_PYTHON#*.})); then
    say "note: Python $PYTHON_VERSION is newer than the lock is checked for ($NEWEST_PYTHON); if set-up fails, use S3LAB_PYTHON=python$NEWEST_PYTHON"
  fi
}

setup_python() {
  pick_python
  local stamp="$VENV/.s3lab-setup" made_by want
  # The stamp names the interpreter and the inputs: a change of either sets the venv up again.
  made_by="python $PYTHON_VERSION $PYTHON"
  want="$made_by
inputs $(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$VENV/bin/python" -c '' 2>/dev/null; then
    return 0
  fi
  # Same interpreter, other inputs: pip updates the venv in place. Another interpreter (or one
  # that no longer runs): the venv is made anew.
  if [ -e "$VENV" ] && { [ "$(head -1 "$stamp" 2>/dev/null)" != "$made_by" ] ||
    ! "$VENV/bin/python" -c '' 2>/dev/null; }; then
    [ -f "$VENV/pyvenv.cfg" ] ||
      fail "$VENV exists and is not a virtual environment -- fix: move it away, or set S3LAB_VENV"
    say "making $VENV again: it was not made from $PYTHON ($PYTHON_VERSION), or no longer runs"
    rm -rf "$VENV"
  fi
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
    fail "$PYTHON ($PYTHON_VERSION) cannot make virtual environments -- fix: sudo apt-get install python${PYTHON_VERSION%.*}-venv"
  say "installing Python packages into $VENV with Python $PYTHON_VERSION (first time: a few minutes; log: $VENV/setup.log)"
  "$PYTHON" -m venv "$VENV"
  if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
    "$VENV/bin/python" -m pip install -c requirements.lock -e '.[test]' &&
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "$KERNEL_DISPLAY"; } >"$VENV/setup.log" 2>&1; then
    grep '^ERROR' "$VENV/setup.log" | head -3 >&2 || true
    fail "installing Python packages failed -- fix: read $VENV/setup.log, then run again"
  fi
  echo "$want" >"$stamp"
}

# The README's set-up and a fast subset of the tests on the distribution's own Python (Debian
# 12's /usr/bin/python3 is 3.11.2, older than the separately installed python3 a developer or
# CI may have first on PATH): a pin that excludes it fails here, not on a learner's machine.
DISTRO_VENV=$PWD/.venv-distro
# The unit tests (no server, about 20 s) and the first notebook on moto.
# (Not the test that installs a package with apt: it runs alone, after both sessions.)
DISTRO_UNIT=(tests -m "not integration and not machine_wide")
DISTRO_NOTEBOOK=(notebooks/10_first_bucket.ipynb::moto)
test_distro() {
  local info
  info=$(python_info "$DISTRO_PYTHON")
  if [ -z "$info" ]; then
    say "distribution's Python: skipped, $DISTRO_PYTHON does not run here (not Debian or Ubuntu)"
    return 0
  fi
  if ! new_enough "${info%% *}"; then
    say "distribution's Python: skipped, $DISTRO_PYTHON is ${info%% *}, older than $OLDEST_PYTHON (set-up picks another Python there)"
    return 0
  fi
  say "distribution's Python ($DISTRO_PYTHON, ${info%% *}): README set-up into $DISTRO_VENV, then a fast subset"
  local start=$SECONDS status=0
  S3LAB_PYTHON=$DISTRO_PYTHON S3LAB_VENV=$DISTRO_VENV bash tasks.sh setup &&
    PATH="$DISTRO_VENV/bin:$PATH" "$DISTRO_VENV/bin/python" -m pytest -q "${DISTRO_UNIT[@]}" &&
    PATH="$DISTRO_VENV/bin:$PATH" "$DISTRO_VENV/bin/python" -m pytest -q "${DISTRO_NOTEBOOK[@]}" ||
    status=$?
  say "distribution's Python: set-up and subset $([ $status -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - start)) s"
  return "$status"
}

# Maintainers only (learners never need uv): resolve the lock for the oldest claimed Python,
# one pin per package for every claimed version (universal, fewest versions; the current lock's
# pins are kept where they still fit), then check that it installs from wheels on each claimed
# minor version. Pass --upgrade (or --upgrade-package NAME) to move pins forward.
lock() {
  local tools="$PWD/.venv-lock" out minor platform
  if ! "$tools/bin/uv" --version 2>/dev/null | grep -q " $UV_VERSION"; then
    say "installing uv $UV_VERSION into $tools"
    python3 -m venv "$tools" && "$tools/bin/python" -m pip install -q "uv==$UV_VERSION"
  fi
  out=$(mktemp)
  # First for the oldest Python alone (a kept pin that needs a newer one, such as soupsieve
  # 4.1.3 needing 3.11.5, is replaced here), then for all of them with those pins preferred.
  cp requirements.lock "$out"
  "$tools/bin/uv" pip compile -q pyproject.toml --extra test --python-version "$OLDEST_PYTHON" \
    --no-header -o "$out" "$@"
  "$tools/bin/uv" pip compile -q pyproject.toml --extra test --universal --fork-strategy fewest \
    --python-version "$OLDEST_PYTHON" --annotation-style line --no-header -o "$out"
  {
    echo "# Every pinned dependency of s3lab[test], one version for every Python from"
    echo "# $OLDEST_PYTHON.0 to $NEWEST_PYTHON (the markers name the few needed only on some)."
    echo "# Made by 'bash tasks.sh lock' (uv pip compile --universal --python-version $OLDEST_PYTHON);"
    echo "# set-up installs it with plain pip: pip install -c requirements.lock -e '.[test]'"
    cat "$out"
  } >requirements.lock
  rm -f "$out"
  for ((minor = ${OLDEST_PYTHON#*.}; minor <= ${NEWEST_PYTHON#*.}; minor++)); do
    for platform in x86_64-manylinux_2_28 aarch64-manylinux_2_28; do
      "$tools/bin/uv" pip compile -q pyproject.toml --extra test -c requirements.lock \
        --python-version "3.$minor" --python-platform "$platform" --no-build -o /dev/null ||
        fail "requirements.lock does not install on Python 3.$minor ($platform) -- fix: pin a version that does, or narrow requires-python"
    done
  done
  say "requirements.lock: resolved for Python $OLDEST_PYTHON.0, wheels for 3.${OLDEST_PYTHON#*.} to $NEWEST_PYTHON checked"
}

# Style and types: ruff, and mypy over the package (with boto3's type stubs).
lint() {
  ruff check . && ruff format --check s3lab tests bench scripts conftest.py && mypy
}

setup() {
  setup_system
  setup_python
  export PATH="$VENV/bin:$PATH"
  # Keep the learner's own AWS set-up out of builds and tests.
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null BOTO_CONFIG=/dev/null
  unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
}

# The learner's command: everything the chapters need, in the learner's own S3LAB_HOME
# (~/.s3lab) and AWS files (chapter 30 writes only to scratch files of its own).
lab() {
  local check=0
  if [ "${1:-}" = --check ]; then
    check=1
    shift
  fi
  setup_system optional
  setup_python
  export PATH="$VENV/bin:$PATH"
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "$KERNEL_DISPLAY" >/dev/null 2>&1 ||
    fail "registering the kernel failed -- fix: bash tasks.sh setup, then run again"
  say "starting both sandboxes (moto and SeaweedFS) in ${S3LAB_HOME:-$HOME/.s3lab}"
  s3lab sandbox start --backend all >/dev/null
  if [ $check -eq 1 ]; then
    say "running every notebook in the kernel \"$KERNEL_DISPLAY\""
    python scripts/lab_check.py "$@"
    return
  fi
  local port=${S3LAB_LAB_PORT:-8888} args=(--notebook-dir=notebooks)
  if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    args+=(--no-browser --ip=127.0.0.1 "--port=$port")
    say "no display here: on your own computer run  ssh -L $port:127.0.0.1:$port $(id -un)@$(hostname -f 2>/dev/null || hostname)"
    say "then open the http://127.0.0.1:$port/lab?token=... link JupyterLab prints below"
  fi
  [ "$(id -u)" -ne 0 ] || args+=(--allow-root)
  say "opening JupyterLab at notebooks/ (kernel \"$KERNEL_DISPLAY\"); stop it with Ctrl+C, then: s3lab sandbox stop"
  exec jupyter lab "${args[@]}" "$@"
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
    status=0
    if [ $# -eq 0 ]; then
      # Lint and the distribution's Python subset run beside the suite (mostly waiting on pip
      # and on servers, as the suite is); their output is shown when the suite is done.
      side_log=$(mktemp)
      (
        side=0
        say "lint: ruff and mypy"
        lint || side=1
        test_distro || side=1
        exit "$side"
      ) >"$side_log" 2>&1 &
      side_pid=$!
      # The suite in pytest-xdist workers, a test file at a time in each (a notebook's cells
      # share one kernel); each worker starts its own sandboxes. Two workers per core, up to 4:
      # much of a test is waiting for a server, a kernel or a browser.
      workers=$(( $(nproc 2>/dev/null || echo 1) * 2 ))
      [ "$workers" -gt 4 ] && workers=4
      python -m pytest -n "$workers" --dist loadfile -m "not machine_wide" || status=$?
      wait "$side_pid" || status=1
      say "beside the suite: lint and the distribution's Python"
      cat "$side_log"
      rm -f "$side_log"
      # Last and alone: what changes the machine (installs a package) while nothing else runs.
      say "tests that change the machine, alone"
      python -m pytest -q -m machine_wide || status=$?
      say "tests: $([ "$status" -eq 0 ] && echo all passed || echo FAILED, see above)"
    else
      say "lint and the distribution's Python: skipped, a test selection was given"
      python -m pytest "$@" || status=$?
    fi
    exit "$status"
    ;;
  bench)
    setup
    # about 10 minutes: removal, uploads, 1 GiB up/down, mount reads, a copy, the book's builds
    python bench/run.py "$@"
    ;;
  outputs)
    setup
    export S3LAB_HOME="$PWD/_build/sandbox"
    s3lab sandbox run --backend all -- python scripts/refresh_outputs.py "$@"
    ;;
  lab) lab "$@" ;;
  lock) lock "$@" ;;
  lint)
    setup
    lint
    ;;
  *)
    sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2
    ;;
esac
