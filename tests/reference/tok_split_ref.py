#!/usr/bin/python3
"""Independent reference for the pre-tokenisation patterns of GPT-2, Llama-3 and Qwen2 (our C scanners are hand-written).

The published patterns are compiled with Python's own `re` engine; since `re` has no \\p{..} classes, \\p{L} and \\p{N}
are spelled out as character classes built from unicodedata, and \\s as the Unicode White_Space set (what \\s means in
the engines the models use: Python's `regex` module for GPT-2, Rust's `regex` crate for Hugging Face tokenizers).

Usage: tok_split_ref.py INPUT.jsonl > GOLDEN.txt
Input: one JSON string per line. Output: per input line, "gpt2:E E E|llama3:E E E|qwen2:E E E" where E are the UTF-8
byte offsets at which each match ends.
"""
import json
import re
import sys
import unicodedata

WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def category_class(prefix):
    ranges, start = [], None
    for c in range(0x110000):
        inside = unicodedata.category(chr(c)).startswith(prefix)
        if inside and start is None:
            start = c
        elif not inside and start is not None:
            ranges.append((start, c - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


def patterns():
    L, N, S = category_class("L"), category_class("N"), WHITE_SPACE
    gpt2 = rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+"
    llama3 = (rf"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n{L}{N}]?[{L}]+|[{N}]{{1,3}}| ?[^{S}{L}{N}]+[\r\n]*|[{S}]*[\r\n]+"
              rf"|[{S}]+(?![^{S}])|[{S}]+")
    qwen2 = llama3.replace(f"[{N}]{{1,3}}", f"[{N}]")
    return {"gpt2": re.compile(gpt2), "llama3": re.compile(llama3), "qwen2": re.compile(qwen2)}


def ends(pat, text):
    out, pos = [], 0
    for m in pat.finditer(text):
        assert m.start() == pos, (text, m.start(), pos)   # the patterns cover every character
        pos = m.end()
        out.append(len(text[:pos].encode("utf-8")))
    assert pos == len(text)
    return " ".join(map(str, out))


def main():
    pats = patterns()
    for line in open(sys.argv[1], encoding="utf-8"):
        text = json.loads(line)
        print("|".join(f"{name}:{ends(p, text)}" for name, p in pats.items()))


if __name__ == "__main__":
    main()
