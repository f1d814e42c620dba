#!/usr/bin/env bash
# Install the open DFT engine (GPAW, plane-wave mode) and its PAW setups into a Python environment.
#
# Usage:   PYTHON=/path/to/venv/bin/python scripts/install_gpaw.sh      (default: the `python` on PATH)
#
# What it does (each step is printed; any failure stops the script with a message):
#   1. Debian packages the C++ extension links against: libxc-dev libopenblas-dev libfftw3-dev pkg-config
#      (plus g++). Needs root or sudo; skipped when they are already installed.
#   2. A GPAW siteconfig (GPAW_CONFIG) for a serial build: compiler g++, mpi off, fftw on, scalapack off,
#      libraries xc + fftw3 + blas. Without it the plain `pip install gpaw` fails on this kind of machine with
#      "algorithm: No such file or directory" (the C++ sources are handed to the C compiler).
#   3. pip install gpaw==$GPAW_VERSION gpaw-data==$GPAW_DATA_VERSION with torch pinned by a constraints file
#      (the project's torch must never be replaced). The PAW setups come from the gpaw-data package, which GPAW
#      finds by itself (gpaw.setup_paths = [gpaw_data.datapath()] + $GPAW_SETUP_PATH): no environment variable
#      is needed.
#   4. Checks: `import gpaw`, the compiled extension has FFTW, and PBE setups exist for the elements in
#      $GPAW_CHECK_ELEMENTS.
#
# Idempotent: exits at once when gpaw imports at the pinned version and the setups are found.
# Environment: PYTHON, GPAW_VERSION (26.7.0), GPAW_DATA_VERSION (1.2.1), TORCH_PIN (torch==2.13.0),
#              GPAW_CHECK_ELEMENTS ("H O Si Ti Ba Sr Pb"), GPAW_FORCE=1 to reinstall.
set -euo pipefail

PYTHON=${PYTHON:-python}
GPAW_VERSION=${GPAW_VERSION:-26.7.0}
GPAW_DATA_VERSION=${GPAW_DATA_VERSION:-1.2.1}
TORCH_PIN=${TORCH_PIN:-torch==2.13.0}
GPAW_CHECK_ELEMENTS=${GPAW_CHECK_ELEMENTS:-H O Si Ti Ba Sr Pb}
APT_PACKAGES=(g++ libxc-dev libopenblas-dev libfftw3-dev pkg-config)

say() { printf '[install_gpaw] %s\n' "$*"; }
die() { printf '[install_gpaw] ERROR: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "python interpreter '$PYTHON' not found: set PYTHON=/path/to/venv/bin/python"
say "python: $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

# Prints nothing and succeeds when gpaw imports at the wanted version with FFTW and all setups present.
check_gpaw() {
    GPAW_VERSION="$GPAW_VERSION" GPAW_CHECK_ELEMENTS="$GPAW_CHECK_ELEMENTS" "$PYTHON" - <<'EOF'
import glob, os, sys
try:
    import gpaw
except Exception as error:  # noqa: BLE001
    sys.exit(f'gpaw does not import: {error}')
if gpaw.__version__ != os.environ['GPAW_VERSION']:
    sys.exit(f'gpaw {gpaw.__version__} is installed, {os.environ["GPAW_VERSION"]} is wanted')
from gpaw.fftw import have_fftw
if not have_fftw():
    sys.exit('gpaw was built without FFTW (plane-wave runs would be slow): reinstall with GPAW_FORCE=1')
missing = [
    el for el in os.environ['GPAW_CHECK_ELEMENTS'].split()
    if not any(glob.glob(os.path.join(str(p), f'{el}.PBE')) + glob.glob(os.path.join(str(p), f'{el}.PBE.gz'))
               for p in gpaw.setup_paths)
]
if missing:
    sys.exit(f'no PBE PAW setups for {missing} in {gpaw.setup_paths}: install gpaw-data or set GPAW_SETUP_PATH')
print(f'gpaw {gpaw.__version__} ok; setups in {[str(p) for p in gpaw.setup_paths]}')
EOF
}

if [[ "${GPAW_FORCE:-0}" != 1 ]] && status=$(check_gpaw 2>&1); then
    say "already installed: $status (set GPAW_FORCE=1 to reinstall)"
    exit 0
fi
say "installing GPAW $GPAW_VERSION (reason: ${status:-GPAW_FORCE=1})"

# 1. System libraries.
missing_pkgs=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing_pkgs+=("$pkg")
done
if ((${#missing_pkgs[@]})); then
    command -v apt-get >/dev/null 2>&1 \
        || die "missing system packages ${missing_pkgs[*]} and no apt-get: install libxc, OpenBLAS, FFTW3 (dev) and g++ by hand"
    SUDO=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install ${missing_pkgs[*]}"
        SUDO=(sudo)
    fi
    say "apt-get install -y ${missing_pkgs[*]}"
    "${SUDO[@]}" apt-get update -qq || die 'apt-get update failed'
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" \
        || die "apt-get install ${missing_pkgs[*]} failed"
else
    say "system packages present: ${APT_PACKAGES[*]}"
fi

# 2. Site config for a serial g++ build, 3. pip install with torch pinned.
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
cat >"$workdir/siteconfig.py" <<'EOF'
# GPAW site config written by aiida-flexo's scripts/install_gpaw.sh: serial C++ build, FFTW, no ScaLAPACK.
compiler = 'g++'
mpi = False
fftw = True
scalapack = False
libraries += ['fftw3', 'blas']  # noqa: F821  (`libraries` is defined by GPAW's setup.py; 'xc' is already in it)
EOF
printf '%s\n' "$TORCH_PIN" >"$workdir/constraints.txt"
say "GPAW_CONFIG=$workdir/siteconfig.py:"
sed 's/^/    /' "$workdir/siteconfig.py"

pip_args=(install --no-input -c "$workdir/constraints.txt" "gpaw==$GPAW_VERSION" "gpaw-data==$GPAW_DATA_VERSION")
if [[ "${GPAW_FORCE:-0}" == 1 ]]; then
    say "$PYTHON -m pip uninstall -y gpaw  (GPAW_FORCE=1: rebuild the extension without pip's wheel cache)"
    "$PYTHON" -m pip uninstall -y gpaw || true
    pip_args+=(--no-cache-dir)
fi
say "$PYTHON -m pip ${pip_args[*]}"
GPAW_CONFIG="$workdir/siteconfig.py" OMP_NUM_THREADS=1 "$PYTHON" -m pip "${pip_args[@]}" \
    || die "pip install gpaw==$GPAW_VERSION failed (see the compiler output above)"

# 4. Check.
status=$(check_gpaw 2>&1) || die "installed, but the check failed: $status"
say "done: $status"
