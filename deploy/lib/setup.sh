# Shared set-up for deploy/serve and tests/run: installs what the build needs, idempotently,
# and builds the UI's hydration bundle. Sourced, not run.

KILN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
KILN_TOOLS="${KILN_TOOLS:-$HOME/.cache/kiln/tools}"
export PATH="$KILN_TOOLS/bin:$PATH"

log() { printf '==> %s\n' "$*" >&2; }

# Debian packages, installed only when missing (and only when we may).
ensure_apt() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "missing packages: ${missing[*]} (install them, then run again)"
    return 1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The wasm target and a wasm-bindgen CLI of exactly the version in Cargo.lock.
ensure_wasm_tools() {
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local version
  version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$KILN_ROOT/Cargo.lock")"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $version\$"; then
    log "installing wasm-bindgen-cli $version (a few minutes, once)"
    cargo install -q wasm-bindgen-cli --version "$version" --root "$KILN_TOOLS"
  fi
}

# binaryen's wasm-opt from npm, pinned: Debian's binaryen 108 produces a bundle that fails to
# hydrate.
BINARYEN_VERSION=132
ensure_wasm_opt() {
  local dir="$KILN_TOOLS/binaryen"
  [ -x "$dir/node_modules/.bin/wasm-opt" ] && grep -q "\"version\": \"$BINARYEN_VERSION\." "$dir/node_modules/binaryen/package.json" 2>/dev/null && return 0
  { command -v node >/dev/null && command -v npm >/dev/null; } || ensure_apt nodejs npm
  log "installing binaryen $BINARYEN_VERSION (wasm-opt)"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION" >/dev/null
}

# frontend/site/pkg: kiln.js and kiln_bg.wasm, the hydration bundle.
build_site() {
  ensure_wasm_tools
  ensure_wasm_opt
  log "building the UI bundle (wasm)"
  (cd "$KILN_ROOT" && cargo build -q -p kiln-hydrate --target wasm32-unknown-unknown --profile wasm-release)
  local staged="$CARGO_TARGET_DIR/site-pkg" pkg="$KILN_ROOT/frontend/site/pkg"
  mkdir -p "$staged" "$pkg"
  # The name section holds only debug names (a third of the file); panics still print their
  # message without it.
  wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir "$staged" --out-name kiln \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/kiln_hydrate.wasm"
  # wasm-opt takes a few seconds: done again only when wasm-bindgen's output changed.
  local sum
  sum="$(sha256sum "$staged/kiln_bg.wasm" | cut -d' ' -f1)"
  if [ ! -s "$pkg/kiln_bg.wasm" ] || [ "$(cat "$pkg/.optimized-from" 2>/dev/null)" != "$sum" ]; then
    "$KILN_TOOLS/binaryen/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      "$staged/kiln_bg.wasm" -o "$pkg/kiln_bg.wasm.new"
    mv "$pkg/kiln_bg.wasm.new" "$pkg/kiln_bg.wasm"
    echo "$sum" > "$pkg/.optimized-from"
  fi
  cp "$staged/kiln.js" "$pkg/kiln.js"
}
