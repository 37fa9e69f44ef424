#!/usr/bin/python3
"""Independent reference for the llama2.c tokenizer.bin format (tokenizer step of issue 3).

Written from the published algorithm (llama2.c run.c `encode`, sentencepiece BPE), not from our C code:
  1. optional BOS (id 1), then a dummy prefix: the piece " " is prepended when the text is not empty;
  2. the text is cut into UTF-8 code points; each code point that is a piece becomes that piece, otherwise each of its
     bytes becomes the byte piece <0xNN> (id = byte + 3);
  3. repeatedly, over all adjacent pairs, the concatenation with the highest score that is itself a piece replaces the
     pair (ties: the leftmost pair), until no pair concatenates to a piece;
  4. optional EOS (id 2).
Decoding drops the leading space of the first piece after BOS and turns <0xNN> into the raw byte.

Usage: tok_llama2c_ref.py TOKENIZER.bin INPUT.txt > OUTPUT.txt
Each input line (UTF-8, without its newline) gives one output line: the ids with BOS, space-separated.
"""
import struct
import sys


def load(path):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    off = 4
    pieces, scores = [], []
    while off < len(data):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off:off + n])
        scores.append(score)
        off += n
    return pieces, scores


def encode(pieces, scores, text, bos=True, eos=False):
    index = {}
    for i, p in enumerate(pieces):
        index.setdefault(p, i)
    ids = [1] if bos else []
    toks = []
    if text:
        toks.append(index[b" "])
    for ch in text:
        b = ch.encode("utf-8")
        if b in index:
            toks.append(index[b])
        else:
            toks.extend(x + 3 for x in b)
    while True:
        best = None
        for i in range(len(toks) - 1):
            cand = index.get(pieces[toks[i]] + pieces[toks[i + 1]])
            if cand is not None and (best is None or scores[cand] > scores[best[1]]):
                best = (i, cand)
        if best is None:
            break
        i, cand = best
        toks[i:i + 2] = [cand]
    ids += toks
    if eos:
        ids.append(2)
    return ids


def main():
    pieces, scores = load(sys.argv[1])
    for line in open(sys.argv[2], encoding="utf-8"):
        line = line.rstrip("\n")
        print(" ".join(str(i) for i in encode(pieces, scores, line)))


if __name__ == "__main__":
    main()
