# Shared by the scripts: install Debian packages when missing.

# needs "what for" COMMAND:PACKAGE...: installs each PACKAGE whose COMMAND is not on
# the PATH (as root, with apt-get), or says what to install and fails.
needs() {
  local what=$1 missing=() pair
  shift
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} ($what)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "$what needs: ${missing[*]} (Debian: sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
}
