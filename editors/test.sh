#!/usr/bin/env bash
# Editor-support tests (VS Code TextMate grammar + Vim syntax). Run from anywhere:
#   bash editors/test.sh
# Needs node/npm (installs the pinned test tool into editors/vscode/node_modules on first run) and vim.
set -u
editors="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
status=0

echo "== VS Code grammar tests (vscode-tmgrammar-test)"
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm not found; install Node.js (>= 18) and npm" >&2
  status=1
else
  (
    cd "$editors/vscode" || exit 1
    if [ ! -x node_modules/.bin/vscode-tmgrammar-test ]; then
      if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund || exit 1
      else
        npm install --no-audit --no-fund || exit 1
      fi
    fi
    npm test
  ) || status=1
fi

echo
echo "== Vim syntax tests"
bash "$editors/vim/test/run.sh" || status=1
if command -v nvim >/dev/null 2>&1; then
  echo
  echo "== Neovim syntax tests"
  VIM_BIN=nvim bash "$editors/vim/test/run.sh" || status=1
fi

echo
if [ "$status" -eq 0 ]; then
  echo "editors: all tests passed"
else
  echo "editors: tests FAILED" >&2
fi
exit "$status"
