#!/usr/bin/env bash
# The README's test command: everything the tests need on a fresh machine, then the whole suite.
#   bash tests/run.sh            (.ci/run calls exactly this)
# Real parts: Debian's redis-server and tmux (installed with apt-get when missing and this runs as root; without
# them their tests skip and say why in the summary), the openai/anthropic/google-genai SDKs (pyproject's test
# extra) and a real LiteLLM proxy in a venv of its own. The exit status is pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages that end-to-end tests need go here, one line each; one `apt-get update` installs them all.
missing=()
# tests/redis_server.py starts its own redis-server (docs/health.md#sharing-health-across-machines shared health).
command -v redis-server >/dev/null || missing+=(redis-server)
# The terminal tests (tests/test_terminal_*.py) drive a real tmux pane.
command -v tmux >/dev/null || missing+=(tmux)
# tests/test_serve_e2e.py sends some requests with curl.
command -v curl >/dev/null || missing+=(curl)
# The docs' examples (tests/test_docs.py) pipe JSON through jq, as a reader would.
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "tests/run.sh: not root, so not installing ${missing[*]}; the tests that need them will skip." >&2
    fi
fi

# Nothing from an earlier run: no venvs, no pytest cache, no Hypothesis example database.
rm -rf .venv .venv-proxy .pytest_cache .hypothesis
# The real LiteLLM proxy tests/test_real_proxy_e2e.py runs against, in a venv of its own (pyproject's
# real-proxy extra: it pins rich<14, which must stay out of the test venv). About 0.5-1.5 min.
python3 -m venv .venv-proxy && .venv-proxy/bin/pip install -q '.[real-proxy]'
# pytest prints its closing summary line, with every skip and its reason (-ra, pyproject).
# Under CI=true Hypothesis draws the same examples every run and keeps no database (tests/conftest.py).
python3 -m venv .venv
.venv/bin/pip install -q '.[test]'
.venv/bin/python -m pytest -p no:cacheprovider </dev/null
