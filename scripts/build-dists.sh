#!/usr/bin/env bash
# Build every FaceX distribution (facex-core, plugins/*/*, the facex-toolbox bundle) as a wheel and an
# sdist into dist/, check their metadata (scripts/check_dists.py), then install and test them from the
# built files alone, never the source tree:
#   * facex-core's wheel with its [test] extra into a fresh venv (torch from the package index), where the
#     core's tests run;
#   * each plugin's wheel with its [test] extra into its own throwaway venv layered on that one (it sees
#     facex-core and torch through a .pth file, nothing else), the FaceX siblings its test extra names
#     coming from dist/; then that plugin's tests run there.
#
#   bash scripts/build-dists.sh                        # build, check, test the core and every plugin (long)
#   bash scripts/build-dists.sh --no-test              # build and check only
#   bash scripts/build-dists.sh facex-head-arcface ... # build and check all; test the core and these plugins
#   bash scripts/build-dists.sh facex-core             # build and check all; test the core only
#   bash scripts/build-dists.sh --plugins-only NAME... # as above without the core's test suite
#
# Needs .venv (scripts/install.sh); installs `build` into it when missing (checked with -I: the build/ folder
# here would otherwise pass for the package). Test venvs live in
# build/dist-venvs (FACEX_DIST_VENVS); the core one is kept between runs (torch is large), REBUILD=1
# makes it afresh. PYTHON (default python3) creates them; TORCH (default torch==2.14.1) is what they get.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
py=.venv/bin/python
test=1 core_tests=1 only=()
for arg in "$@"; do
  case $arg in
    --no-test) test=0 ;;
    --plugins-only) core_tests=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) only+=("$arg") ;;
  esac
done
[ -x "$py" ] || { echo "no .venv: run bash scripts/install.sh first" >&2; exit 1; }
"$py" -I -c "import build" 2>/dev/null || "$py" -m pip install -q --disable-pip-version-check build

# -- build -------------------------------------------------------------------------------------------
rm -rf dist && mkdir -p dist build
folders=(. plugins/*/*/ bundle/)
echo "building ${#folders[@]} distributions into dist/"
failed=()
for dir in "${folders[@]}"; do
  had=$(ls -d "${dir%/}"/*.egg-info 2>/dev/null || true)
  # --no-isolation: .venv's setuptools (>=77, checked against each build-system.requires)
  if ! "$py" -m build --no-isolation --outdir dist "$dir" > build/build-dists.log 2>&1; then
    grep -v '^\*' build/build-dists.log | tail -n 8 >&2
    echo "build-dists: building $dir failed" >&2
    failed+=("$dir (build)")
  fi
  [ -n "$had" ] || rm -rf "${dir%/}"/*.egg-info  # the sdist step's, left in the source folder
done
"$py" scripts/check_dists.py dist || failed+=("metadata check")
unlisted=$("$py" - <<'EOF'
import glob, tomllib
from packaging.requirements import Requirement
bundled = {Requirement(r).name for r in tomllib.load(open("bundle/pyproject.toml", "rb"))["project"]["dependencies"]}
names = [tomllib.load(open(f, "rb"))["project"]["name"] for f in glob.glob("plugins/*/*/pyproject.toml")]
print(" ".join(sorted(set(names) - bundled)))
EOF
)
[ -z "$unlisted" ] || echo "note: not in the facex-toolbox bundle: $unlisted"
if [ "$test" = 0 ]; then
  [ "${#failed[@]}" = 0 ] || { echo "build-dists: FAILED: ${failed[*]}" >&2; exit 1; }
  exit 0
fi

# -- install and test, each from its wheel -------------------------------------------------------------
venvs=${FACEX_DIST_VENVS:-build/dist-venvs}
mkdir -p "$venvs"
venvs=$(cd "$venvs" && pwd)
base=$venvs/facex-core
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# pins every FaceX distribution to the file in dist/, so no index ever supplies one
"$py" - > "$work/constraints.txt" <<'EOF'
from pathlib import Path
from packaging.utils import parse_wheel_filename
for whl in sorted(Path("dist").glob("*.whl")):
    name, version, _, _ = parse_wheel_filename(whl.name)
    print(f"{name}=={version}")
EOF
core_whl=$(ls "$repo"/dist/facex_core-*.whl)
bpip() { "$base/bin/python" -m pip -q --disable-pip-version-check "$@" >> "$work/pip.log" 2>&1 \
  || { tail -n 20 "$work/pip.log" >&2; echo "build-dists: pip $* failed" >&2; exit 1; }; }
if [ "${REBUILD:-0}" = 1 ] || ! "$base/bin/python" -c "import torch" 2>/dev/null; then
  rm -rf "$base"
  "${PYTHON:-python3}" -m venv "$base"
  bpip install "${TORCH:-torch==2.14.1}" "setuptools>=77"
fi
stale=$("$base/bin/python" -m pip list --format=freeze 2>/dev/null | sed -n 's/^\(facex-[^=]*\)==.*/\1/p')
[ -z "$stale" ] || bpip uninstall -y $stale
bpip install --force-reinstall --no-deps "$core_whl"
bpip install "$core_whl[test]"
base_site=$("$base/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")

where() {  # where: VENV DIST -> fails unless DIST is installed inside VENV (not in the source tree)
  "$1/bin/python" - "$1" "$2" <<'EOF'
import sys
from importlib import metadata
from pathlib import Path
venv, name = Path(sys.argv[1]).resolve(), sys.argv[2]
files = [Path(metadata.distribution(name).locate_file(f)).resolve() for f in metadata.files(name) or []]
code = [f for f in files if f.suffix == ".py"]
assert code and all(venv in f.parents for f in code), f"{name}: not installed from its wheel in {venv}: {code[:1]}"
EOF
}

# test modules that hand their own functions to spawned processes are imported as tests.* / plugins.*:
# this folder offers those two names (and not facex_core, so the installed wheels are what runs)
mkdir "$work/shim" && ln -s "$repo/tests" "$repo/plugins" "$work/shim/"
export PYTHONSAFEPATH=1 PYTHONPATH=$work/shim
if [ "$core_tests" = 1 ]; then
  where "$base" facex-core
  echo "== facex-core: tests/ against $(basename "$core_whl")"
  if ! (cd "$work" && FACEX_NO_PROGRESS=1 "$base/bin/python" -m pytest -q -p no:cacheprovider "$repo/tests" 2>&1 \
        | tail -n 3; exit "${PIPESTATUS[0]}"); then failed+=(facex-core); fi
fi

"$py" - "${only[@]}" > "$work/plugins.txt" <<'EOF'
import glob, sys, tomllib
only = set(sys.argv[1:])
for f in sorted(glob.glob("plugins/*/*/pyproject.toml")):
    name = tomllib.load(open(f, "rb"))["project"]["name"]
    if not only or name in only or f.split("/")[2] in only:
        print(name, f.rsplit("/", 1)[0])
EOF
while read -r dist dir; do
  venv=$venvs/$dist
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "import site; site.addsitedir('$base_site')" > "$site/_facex_core_base.pth"
  whl=$(ls "$repo"/dist/"${dist//-/_}"-*.whl)
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --find-links "$repo/dist" \
      -c "$work/constraints.txt" "$whl[test]" > "$work/pip.log" 2>&1; then
    tail -n 20 "$work/pip.log" >&2
    failed+=("$dist (install)")
    continue
  fi
  # mediapipe's metadata pins numpy<2 although it runs with numpy 2: installed as scripts/install.sh does
  if "$venv/bin/python" -m pip show -q facex-sdk-mediapipe > /dev/null 2>&1; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps mediapipe==0.10.21 > "$work/pip.log" 2>&1 \
      || echo "warning: mediapipe 0.10.21 could not be installed for $dist: its MediaPipe tests skip" >&2
  fi
  where "$venv" "$dist"
  echo "== $dist: $(cd "$venv" && bin/python -m pip list --format=freeze 2>/dev/null | grep -c '^facex-') FaceX" \
       "distributions in its venv, $dir/tests against $(basename "$whl")"
  if ! (cd "$work" && FACEX_NO_PROGRESS=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/$dir/tests" 2>&1 \
        | tail -n 3; exit "${PIPESTATUS[0]}"); then failed+=("$dist"); fi
done < "$work/plugins.txt"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "build-dists: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "build-dists: every distribution built, checked, installed alone and tested"
