#!/usr/bin/python3
"""Independent reference of a Hugging Face tokenizer.json pipeline with a WordPiece model, for CraftGPT-5M's tokenizer.

Written from the Hugging Face tokenizers documentation (the pipeline page and the API pages of added tokens,
normalizers, pre-tokenizers, models and decoders), not from the C code and not with the `tokenizers` package:
  1. added tokens are found in the raw text first, leftmost and longest first; a token with lstrip/rstrip also takes
     the whitespace on its left/right; the stretches of text between them go through the rest of the pipeline one by
     one (an added token with normalized = true is matched after normalisation: not supported here, refused);
  2. normalizers: Sequence, Lowercase, Prepend (only to a non-empty string), Replace (a literal string pattern);
  3. pre-tokenizers: none (the whole stretch is one word), or Split on a literal string with the behaviours Removed,
     Isolated, MergedWithPrevious, MergedWithNext and Contiguous;
  4. model WordPiece: a word longer than max_input_chars_per_word characters is the unknown token; otherwise greedy
     longest match from the left, every piece after the first looked up with continuing_subword_prefix in front; a
     word with a stretch that no piece matches is the unknown token as a whole;
  5. decoders: Replace (literal) and Sequence of them; special tokens skipped when decoding with skip_special_tokens.

Usage:
  tok_wordpiece_ref.py TOKENIZER_JSON < texts          one line of ids per line of text
  tok_wordpiece_ref.py golden TOKENIZER_JSON TASKS_DIR > tests/reference/tok_craftgpt_golden.txt
The golden mode reads every text column of TASKS_DIR/*/test.tsv (sorted by task) and writes per text its number of
ids and the CRC-32 (zlib) of the ids as little-endian int32, plus a few strings written out in full and decoded;
tests/tokenizer/test_craftgpt_tok.c compares.
"""
import json
import os
import sys
import zlib


class WordPieceTokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
        model = spec["model"]
        if model.get("type") != "WordPiece":
            raise SystemExit("only WordPiece models: %s" % model.get("type"))
        self.vocab = model["vocab"]
        self.unk = model.get("unk_token", "[UNK]")
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_chars = model.get("max_input_chars_per_word", 100)
        self.added = []
        for a in spec.get("added_tokens") or []:
            if a.get("normalized", False) and not a.get("special", False):
                raise SystemExit("normalized added tokens are not supported by this reference")
            self.added.append(a)
        self.by_id = {v: k for k, v in self.vocab.items()}
        for a in self.added:
            self.by_id[a["id"]] = a["content"]
        self.normalizer = spec.get("normalizer")
        self.pre = spec.get("pre_tokenizer")
        self.decoder = spec.get("decoder")

    # ---- 1. added tokens ----
    def split_added(self, text):
        """[(is_added, string or id)] in text order."""
        out, start, i = [], 0, 0
        while i < len(text):
            best = None
            for a in self.added:
                c = a["content"]
                if c and text.startswith(c, i) and (best is None or len(c) > len(best["content"])):
                    best = a
            if best is None:
                i += 1
                continue
            left, right = i, i + len(best["content"])
            if best.get("lstrip"):
                while left > start and text[left - 1].isspace():
                    left -= 1
            if best.get("rstrip"):
                while right < len(text) and text[right].isspace():
                    right += 1
            if left > start:
                out.append((False, text[start:left]))
            out.append((True, best["id"]))
            start = i = right
        if start < len(text):
            out.append((False, text[start:]))
        return out

    # ---- 2. normalizers ----
    def normalize(self, s, n=None):
        n = self.normalizer if n is None else n
        if not n:
            return s
        t = n["type"]
        if t == "Sequence":
            for sub in n["normalizers"]:
                s = self.normalize(s, sub)
            return s
        if t == "Lowercase":
            return "".join(ch.lower() for ch in s)  # character by character, as the documented Lowercase does
        if t == "Prepend":
            return n["prepend"] + s if s else s
        if t == "Replace":
            return s.replace(n["pattern"]["String"], n["content"])
        raise SystemExit("normalizer %s is not supported by this reference" % t)

    # ---- 3. pre-tokenizers ----
    def pre_tokenize(self, s):
        p = self.pre
        if not p:
            return [s] if s else []
        if p["type"] != "Split" or "String" not in p["pattern"] or p.get("invert"):
            raise SystemExit("pre-tokenizer %s is not supported by this reference" % p["type"])
        sep, how = p["pattern"]["String"], p["behavior"]
        pieces, i, last = [], 0, 0  # pieces: (is_separator, text)
        while sep and i < len(s):
            if s.startswith(sep, i):
                if i > last:
                    pieces.append((False, s[last:i]))
                pieces.append((True, sep))
                i += len(sep)
                last = i
            else:
                i += 1
        if last < len(s):
            pieces.append((False, s[last:]))
        words = []
        if how == "Removed":
            words = [t for is_sep, t in pieces if not is_sep]
        elif how == "Isolated":
            words = [t for _, t in pieces]
        elif how == "MergedWithPrevious":
            for is_sep, t in pieces:
                if is_sep and words and not words[-1][1]:
                    words[-1] = (words[-1][0] + t, True)
                else:
                    words.append((t, is_sep))
            words = [w for w, _ in words]
        elif how == "MergedWithNext":
            pending = ""
            for is_sep, t in pieces:
                if is_sep:
                    if pending:
                        words.append(pending)
                    pending = t
                else:
                    words.append(pending + t)
                    pending = ""
            if pending:
                words.append(pending)
        elif how == "Contiguous":
            for is_sep, t in pieces:
                if words and words[-1][1] == is_sep:
                    words[-1] = (words[-1][0] + t, is_sep)
                else:
                    words.append((t, is_sep))
            words = [w for w, _ in words]
        else:
            raise SystemExit("Split behaviour %s is not supported by this reference" % how)
        return [w for w in words if w]

    # ---- 4. model ----
    def wordpiece(self, word):
        if len(word) > self.max_chars:
            return [self.vocab[self.unk]]
        ids, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [self.vocab[self.unk]]
            ids.append(found)
            start = end
        return ids

    def encode(self, text):
        ids = []
        for is_added, part in self.split_added(text):
            if is_added:
                ids.append(part)
                continue
            for word in self.pre_tokenize(self.normalize(part)):
                ids.extend(self.wordpiece(word))
        return ids

    # ---- 5. decoding ----
    def decode_token(self, tok, d=None):
        d = self.decoder if d is None else d
        if not d:
            return tok
        if d["type"] == "Sequence":
            for sub in d["decoders"]:
                tok = self.decode_token(tok, sub)
            return tok
        if d["type"] == "Replace":
            return tok.replace(d["pattern"]["String"], d["content"])
        raise SystemExit("decoder %s is not supported by this reference" % d["type"])

    def decode(self, ids, skip_special=True):
        special = {a["id"] for a in self.added if a.get("special")}
        return "".join(self.decode_token(self.by_id[i]) for i in ids if not (skip_special and i in special))


def task_files(tasks_dir):
    """(task, text column names, rows of those columns) of every TASKS_DIR/*/test.tsv, tasks sorted."""
    for task in sorted(os.listdir(tasks_dir)):
        path = os.path.join(tasks_dir, task, "test.tsv")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", newline="\n") as f:
            header = f.readline().rstrip("\n").split("\t")
            cols = [i for i, name in enumerate(header) if name != "label"]
            rows = [[line.rstrip("\n").split("\t")[i] for i in cols] for line in f]
        yield task, [header[i] for i in cols], rows


def crc_of(ids):
    return zlib.crc32(b"".join(i.to_bytes(4, "little") for i in ids)) & 0xFFFFFFFF


def golden(tok, tasks_dir):
    out = sys.stdout
    out.write("# tests/reference/tok_wordpiece_ref.py golden. 'task NAME ROWS COLUMN...' for each test.tsv, then one\n")
    out.write("# line per row (file order): per text column, the number of ids and the CRC-32 of the ids as little-endian\n")
    out.write("# int32. Then 'ids' lines written out in full (chat-format and odd strings), each with its 'decode'\n")
    out.write("# (special tokens skipped)\n")
    count = 0
    for task, cols, rows in task_files(tasks_dir):
        out.write("task %s %d %s\n" % (task, len(rows), " ".join(cols)))
        for row in rows:
            out.write(" ".join("%d %08x" % (len(ids), crc_of(ids)) for ids in map(tok.encode, row)) + "\n")
            count += len(row)
    samples = ["[inst] I love it! [/inst] it was", "[inst]hello[/inst]bye", "  [inst]   spaced   [/inst]  ",
               "A Café in 1990: \"quoted\" (x) [INST] not special", "it's   well-made ; isn't it ?",
               "x" * 150, "_under_score_", "", "   ", "[inst] [/inst] [inst]"]
    for s in samples:
        ids = tok.encode(s)
        out.write("ids %s\t%d %s\n" % (json.dumps(s), len(ids), " ".join(map(str, ids))))
        out.write("decode %s\n" % json.dumps(tok.decode(ids)))
    sys.stderr.write("tok_wordpiece_ref: %d texts\n" % count)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "golden":
        golden(WordPieceTokenizer(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 2:
        tok = WordPieceTokenizer(sys.argv[1])
        for line in sys.stdin:
            print(" ".join(map(str, tok.encode(line.rstrip("\n")))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
