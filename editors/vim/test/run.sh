#!/usr/bin/env bash
# Headless test of the Vim/Neovim syntax files: bash editors/vim/test/run.sh
# VIM_BIN=nvim selects another (Vim-compatible) editor binary.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vim_bin="${VIM_BIN:-vim}"
if ! command -v "$vim_bin" >/dev/null 2>&1; then
  echo "error: '$vim_bin' not found; install vim (e.g. apt-get install vim) or set VIM_BIN" >&2
  exit 2
fi
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
WMAP_VIM_TEST_OUT="$out" "$vim_bin" -N -u NONE -i NONE -n -es -S "$here/test.vim" </dev/null
rc=$?
if [ ! -s "$out" ]; then
  echo "error: $vim_bin produced no results (exit $rc)" >&2
  exit 1
fi
cat "$out"
if [ "$rc" -ne 0 ] || grep -q '^FAIL ' "$out"; then
  echo "vim syntax tests FAILED" >&2
  exit 1
fi
echo "vim syntax tests passed"
