#!/usr/bin/env bash
# `npm test` runs this first (the `pretest` script), so `npm install && npm test` passes on a fresh
# machine with nothing installed by hand. It provides what the suites need beyond node_modules:
#   - moto_server (the AWS tests' S3/SQS wire protocol): moto[server] from the local package mirror
#     into the project's own virtual environment .venv-moto (test/helpers/moto.ts looks there first);
#   - /usr/bin/chromium (the report test's browser): Debian's package, when it is missing and this
#     user may install packages (root with apt-get).
# It says in one line what it does; when everything is there it does nothing and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-moto
MIRROR=(--index-url file:///opt/pypi/simple --extra-index-url file:///opt/pypi-more/simple)
CHROMIUM=/usr/bin/chromium

need_moto=0
need_chromium=0
[ -f "$VENV/.installed" ] && [ -x "$VENV/bin/moto_server" ] || need_moto=1
[ -x "$CHROMIUM" ] || need_chromium=1

if [ "$need_moto" = 0 ] && [ "$need_chromium" = 0 ]; then
  echo "pretest: moto_server ($VENV) and chromium ($CHROMIUM) are installed; nothing to do"
  exit 0
fi

# moto is installed from the local package mirror when the mirror has it; otherwise the venv is
# layered over a Python that already has moto[server] (this kind of machine's pyenv Python does),
# so the tests still run one known moto_server from .venv-moto.
python_with_moto() {
  local candidates=(python3) py
  for py in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python3; do [ -x "$py" ] && candidates+=("$py"); done
  for py in "${candidates[@]}"; do
    if "$py" -c 'import moto.server, flask' >/dev/null 2>&1; then command -v "$py"; return 0; fi
  done
  return 1
}
mirror_has_moto=0
for index in /opt/pypi/simple /opt/pypi-more/simple; do [ -d "$index/moto" ] && mirror_has_moto=1; done

actions=()
moto_python=""
if [ "$need_moto" = 1 ]; then
  if [ "$mirror_has_moto" = 1 ]; then
    actions+=("installing moto[server] from the local package mirror into $VENV")
  elif moto_python=$(python_with_moto); then
    actions+=("making $VENV over $moto_python, which has moto[server] (the local package mirror has no moto)")
  else
    echo "pretest: moto_server is needed by the AWS tests, but the local package mirror has no moto and no python3 here has it; pip install 'moto[server]'" >&2
    exit 1
  fi
fi
[ "$need_chromium" = 1 ] && actions+=("installing Debian's chromium with apt-get")
echo "pretest: $(IFS=';'; echo "${actions[*]}" | sed 's/;/ and /g')"

if [ "$need_moto" = 1 ]; then
  # Built in place (a venv's scripts name its python by absolute path); the marker file is written
  # only after a complete install, so a half-made venv is rebuilt next time, never used.
  rm -rf "$VENV"
  if [ "$mirror_has_moto" = 1 ]; then
    python3 -m venv "$VENV"
    log=$(mktemp)
    if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "${MIRROR[@]}" 'moto[server]' >"$log" 2>&1; then
      cat "$log" >&2
      echo "pretest: could not install moto[server] into $VENV (pip's output above)" >&2
      rm -f "$log"
      exit 1
    fi
    rm -f "$log"
  else
    "$moto_python" -m venv --system-site-packages --without-pip "$VENV"
    printf '#!%s\nfrom moto.server import main\nraise SystemExit(main())\n' "$PWD/$VENV/bin/python" >"$VENV/bin/moto_server"
    chmod +x "$VENV/bin/moto_server"
    "$VENV/bin/moto_server" --help >/dev/null
  fi
  touch "$VENV/.installed"
fi

if [ "$need_chromium" = 1 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "pretest: $CHROMIUM is missing and this user cannot install it (needs root and apt-get); the report test needs it: apt-get install chromium" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >/tmp/headstart-apt.log 2>&1; then
    tail -20 /tmp/headstart-apt.log >&2
    echo "pretest: apt-get install chromium failed (log above)" >&2
    exit 1
  fi
fi
