#!/usr/bin/env bash
# The wheel works outside the checkout: build it, install it into a fresh virtual environment
# and build the graph of one example document with the installed `kgbuild` command.
#
# Fast and offline: the wheel is built without build isolation (the dev extras pin
# setuptools) and installed with --no-deps into a venv that reuses the project venv's
# already installed dependencies (a .pth line per site-packages folder, the way
# --system-site-packages reuses the base interpreter's). The run happens outside the
# repository, so the installed package, its packaged models/ and schemas/ are what runs.
# Usage: .ci/install_check.sh [python]   (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${1:-${PYTHON:-.venv/bin/python}}
python=$(command -v "$python" || echo "$repo/$python")
work=$(mktemp -d "${TMPDIR:-/tmp}/kgbuild-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset PYTHONPATH KGBUILD_MODELS_DIR KGBUILD_SCHEMAS_DIR KGBUILD_CONFIG
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false DO_NOT_TRACK=1

echo "== wheel"
# Build from a copy of the tracked and untracked-but-not-ignored files, so that no stale
# build/ folder or ignored file of this checkout ends up in the wheel.
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard | tar -c --null -T - | tar -x -C "$work/src"
"$python" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$work/dist" "$work/src"
wheel=$(echo "$work"/dist/kgbuild-*.whl)
"$python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["kgbuild/cli/__init__.py", "kgbuild_flows/__init__.py",
        "kgbuild/_resources/models/manifest.yaml", "kgbuild/_resources/schemas/wikidata.yaml"]
missing = [n for n in need if n not in names]
assert not missing, f"the wheel lacks {missing}"
assert not any(n.startswith(("flows/", "tests/")) for n in names), "the wheel carries flows/ or tests/"
print(f"{sys.argv[1].rsplit('/', 1)[-1]}: {len(names)} files")
PY

echo "== fresh venv"
"$python" -m venv "$work/venv"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$python" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("site-packages")))' \
  > "$site/zz_kgbuild_deps.pth"
"$work/venv/bin/python" -m pip install --quiet --no-deps --no-index --ignore-installed "$wheel"

echo "== kgbuild build (installed)"
mkdir "$work/run"
cp examples/corpus/001_acme_founding.txt "$work/run/"
cd "$work/run"
"$work/venv/bin/python" - "$work/venv" <<'PY'
import sys
import kgbuild, kgbuild_flows
from kgbuild.models import models_dir
from kgbuild.schema import schema_file
venv = sys.argv[1]
for what in (kgbuild.__file__, kgbuild_flows.__file__, models_dir(), schema_file(None)):
    assert str(what).startswith(venv), f"{what} is not the installed copy under {venv}"
print("imports from", kgbuild.__file__.rsplit("/", 2)[0], "; models from", models_dir())
PY
"$work/venv/bin/kgbuild" build 001_acme_founding.txt --out out --no-progress
"$work/venv/bin/python" - <<'PY'
import json
graph = json.load(open("out/graph.json", encoding="utf-8"))
nodes = graph.get("nodes") or graph.get("entities") or []
assert nodes, "the installed kgbuild built an empty graph"
print(f"graph.json: {len(nodes)} nodes")
PY
echo "== install check passed"
