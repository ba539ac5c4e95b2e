#!/usr/bin/env bash
# The project's commands. Each one does its own set-up first (idempotent: seconds when
# nothing changed): Debian packages for FUSE mounts when run as root, a virtual environment
# in .venv with s3lab and its pinned dependencies (requirements.lock).
#
#   bash tasks.sh lab      learners: set up what the chapters need, start both sandboxes, open
#                          JupyterLab on the repository at notebooks/
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
# What a learner's chapters need (bash tasks.sh lab): fuse3 and s3fs for the mount chapters
# (60, 70; optional: without them the lab notes the one sudo line and goes on); python3-venv:
# Debian's own python3 makes no virtual environment without it.
LAB_PACKAGES=(fuse3 s3fs python3-venv)
# The Kopah chapter's (85), never installed by the lab (it says how): ceph-mon ceph-osd radosgw
# ceph-common, the one-node Ceph it rehearses on (SeaweedFS without them), and s3cmd, its
# second client.
KOPAH_PACKAGES=(ceph-mon ceph-osd radosgw ceph-common s3cmd)
# The test bench's (bash tasks.sh test, book, setup), besides those. gpg: the install tests make a
# signing key and sign stand-ins (s3lab itself verifies with gpgv, which every Debian and Ubuntu
# system already has). podman, runc and busybox-static: the containers test runs a checkpoint
# writer in a container built from local parts. chromium: the site test opens every page of the
# built book in it (headless).
SYSTEM_PACKAGES=("${LAB_PACKAGES[@]}" gpg podman runc busybox-static chromium "${KOPAH_PACKAGES[@]}")

# nodejs, npm: configurable-http-proxy, the proxy of the classroom's JupyterHub (s3lab classroom
# start --hub). A nodejs that brings its own npm (NodeSource's) conflicts with Debian's npm.
SYSTEM_PACKAGES+=(nodejs)
command -v npm >/dev/null || SYSTEM_PACKAGES+=(npm)

# The Pythons the project claims: requires-python's lower bound in pyproject.toml (the lock is
# resolved for it: 3.11.0) up to [tool.s3lab] newest-python, the newest the lock is checked for.
OLDEST_PYTHON=$(sed -n 's/^requires-python = ">=\([0-9]*\.[0-9]*\)"$/\1/p' pyproject.toml)
NEWEST_PYTHON=$(sed -n 's/^newest-python = "\([0-9]*\.[0-9]*\)"$/\1/p' pyproject.toml)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The kernel the notebooks name (python3), registered in the venv under a clear display name.
KERNEL_DISPLAY="Python (s3lab)"

# The packages of "$@" that are not installed.
missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || echo "$pkg"
  done
}

# setup_system [optional] [PACKAGE...]: install the Debian packages (default: SYSTEM_PACKAGES).
# With "optional" (the lab path), a non-root learner without them gets a note and goes on:
# every chapter but the three that mount a bucket (60, 70, 85) needs none of them.
setup_system() {
  local optional=0 missing=()
  if [ "${1:-}" = optional ]; then
    optional=1
    shift
  fi
  [ $# -gt 0 ] || set -- "${SYSTEM_PACKAGES[@]}"
  mapfile -t missing < <(missing_packages "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    say "not Debian/Ubuntu: install these yourself if mounts fail: ${missing[*]}"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] && [ $optional -eq 1 ]; then
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

# setup_python [EXTRA]: the venv with s3lab[EXTRA] (default test: the whole bench; the lab
# takes s3lab[lab], what the chapters need).
setup_python() {
  local extra=${1:-test}
  pick_python
  local stamp="$VENV/.s3lab-setup" made_by full want
  # The stamp names the interpreter and the inputs: a change of either sets the venv up again.
  made_by="python $PYTHON_VERSION $PYTHON"
  full="$made_by
inputs $(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
  want=$full
  [ "$extra" = test ] || want="$full [$extra]"
  # A venv set up for the tests has everything the lab needs too.
  if { [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || [ "$(cat "$stamp" 2>/dev/null)" = "$full" ]; } &&
    "$VENV/bin/python" -c '' 2>/dev/null; then
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
  say "installing Python packages into $VENV with Python $PYTHON_VERSION (first time: a minute or two; log: $VENV/setup.log)"
  "$PYTHON" -m venv "$VENV"
  # uv when it installed (it reads no pip.conf: a pip-only index falls back to pip), else pip.
  # Both compile the modules as they install them (uv on every core): where
  # PYTHONDONTWRITEBYTECODE is set, as in CI, Python never keeps what it compiles, and each
  # kernel, test worker and aws command compiled its imports again (2.2 s of CPU a kernel
  # instead of 0.7 s; 1.6 s an aws command instead of 0.7 s).
  local log="$VENV/setup.log" with=pip
  : >"$log"
  if setup_uv >>"$log" 2>&1 &&
    "$UV" pip install --compile-bytecode --python "$VENV/bin/python" -c requirements.lock -e ".[$extra]" >>"$log" 2>&1; then
    with=uv
  else
    say "note: uv could not be installed or could not install the packages (see $log); trying pip"
    "$VENV/bin/python" -m pip install --upgrade pip >>"$log" 2>&1 &&
      "$VENV/bin/python" -m pip install -c requirements.lock -e ".[$extra]" >>"$log" 2>&1 ||
      { grep '^ERROR' "$log" | head -3 >&2 || true
        fail "installing Python packages failed -- fix: read $log, then run again"; }
  fi
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "$KERNEL_DISPLAY" >>"$log" 2>&1 ||
    fail "registering the notebooks' kernel failed -- fix: read $log, then run again"
  echo "installed with $with" >>"$log"
  echo "$want" >"$stamp"
}

# uv, pinned in pyproject.toml's [tool.s3lab], in an environment of its own (.venv-uv, shared by
# .venv and .venv-distro: uv is one program, whatever the Python it installs for).
UV_VERSION=$(sed -n 's/^uv = "\([0-9.]*\)"$/\1/p' pyproject.toml)
UV=$PWD/.venv-uv/bin/uv
setup_uv() {
  case "$("$UV" --version 2>/dev/null)" in "uv $UV_VERSION" | "uv $UV_VERSION "*) return 0 ;; esac
  rm -rf .venv-uv
  "$PYTHON" -m venv .venv-uv && .venv-uv/bin/python -m pip install -q "uv==$UV_VERSION"
}

# The AWS CLI v2 the book teaches, in an environment of its own (it pins its own awscrt and
# urllib3), shared by .venv and .venv-distro: from S3LAB_AWSCLI_SOURCE (a source tarball or
# an installer zip), else the official zip, else PyPI's v1 with one line that says so. Linked
# into $VENV/bin after pip ran (pip replaces the link when it reinstalls v1); seconds once built.
# Beside $VENV, not in this tree: a build from a copy of the tree with S3LAB_VENV (as
# scripts/build_times.py does) must not link the venv's aws into the copy, deleted afterwards.
AWSCLI_VENV=$(dirname "$VENV")/.venv-awscli
# S3LAB_V1_SAID=1: a second set-up in the same command (the test command's .venv-distro) leaves
# out the note that v1 was kept, which the first one printed: it is said once.
setup_awscli() {
  PATH="$(dirname "$UV"):$PATH" "$VENV/bin/s3lab" install awscli --or-v1 --prefix "$AWSCLI_VENV" --link-into "$VENV/bin" 2>&1 |
    sed "${S3LAB_V1_SAID:+/^note: the AWS CLI v1 /d}" ||
    fail "setting up the AWS CLI v2 failed -- fix: read the line above, then run again"
}

# The classroom hub's proxy from npm, into the project's .hub/ (never global). 5.1.0 is the
# newest that runs on Debian 12's nodejs 18 (5.2 wants 20).
HUB_PROXY=configurable-http-proxy@5.1.0
setup_hub() {
  grep -qs "\"version\": \"${HUB_PROXY#*@}\"" .hub/node_modules/configurable-http-proxy/package.json && return 0
  command -v npm >/dev/null || { say "note: no npm: the classroom hub needs it (as root: bash tasks.sh setup)"; return 0; }
  say "installing $HUB_PROXY into .hub/ (npm)"
  mkdir -p .hub && npm install --prefix .hub --no-save --no-audit --no-fund --loglevel=error "$HUB_PROXY" >.hub/npm.log 2>&1 ||
    fail "npm install $HUB_PROXY failed -- fix: read .hub/npm.log, then run again"
}

setup() {
  setup_system
  setup_python
  # The hub's proxy (npm: mostly waiting on the network) while the AWS CLI v2 builds (a core).
  setup_hub &
  local hub=$!
  setup_awscli
  wait "$hub" || exit 1
  export PATH="$VENV/bin:$PATH"
  # Keep the learner's own AWS set-up out of builds and tests.
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null BOTO_CONFIG=/dev/null
  unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL
}

# Everything after the set-up is Python (a fresh Debian has bash and Python, and now the venv):
# scripts/tasks.py, run with the venv's Python, does book, test, bench, outputs, lint and the
# rest of lab; lock runs it with the picked interpreter (it needs no venv).
tasks_py() {
  exec "$VENV/bin/python" scripts/tasks.py "$@"
}

# The learner's command: everything the chapters need, in the learner's own S3LAB_HOME
# (~/.s3lab) and AWS files (chapter 30 writes only to scratch files of its own). Its set-up:
# a learner who is not root and lacks the FUSE packages gets a note and goes on; the kernel is
# registered under its display name. Then scripts/tasks.py lab: both sandboxes, then
# JupyterLab (--check: every notebook in that kernel, a table).
lab() {
  setup_system optional "${LAB_PACKAGES[@]}"
  local kopah
  kopah=$(missing_packages "${KOPAH_PACKAGES[@]}" | tr '\n' ' ')
  if [ -n "$kopah" ] && command -v apt-get >/dev/null; then
    say "note: the Kopah chapter (85) rehearses on SeaweedFS; for Ceph itself and s3cmd: sudo apt-get install -y ${kopah% }"
  fi
  setup_python lab
  setup_awscli
  export PATH="$VENV/bin:$PATH"
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "$KERNEL_DISPLAY" >/dev/null 2>&1 ||
    fail "registering the kernel failed -- fix: bash tasks.sh setup, then run again"
  tasks_py lab "$@"
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  book | test | bench | outputs | lint)
    setup
    tasks_py "$cmd" "$@"
    ;;
  lab) lab "$@" ;;
  lock)
    pick_python
    exec "$PYTHON" scripts/tasks.py lock "$@"
    ;;
  *)
    sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2
    ;;
esac
