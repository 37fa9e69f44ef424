#!/usr/bin/python3
"""Small tokenizer files for the end-to-end tests of BERT, RoBERTa and GPT-2 shaped models (tests/models/data/).

No real vocabulary of these models may be committed here, so this writes small ones in the same formats:
  - roberta/vocab.json + merges.txt: byte-level BPE (GPT-2's byte-to-unicode map) with RoBERTa's special tokens
    <s> <pad> </s> <unk> first and <mask> last, as in roberta-base;
  - gpt2/vocab.json + merges.txt: the same pieces without RoBERTa's specials, <|endoftext|> last, as in gpt2;
  - bert/vocab.txt: a WordPiece vocabulary with [PAD] [UNK] [CLS] [SEP] [MASK], single characters, their ## forms
    and the most frequent words.
Merges and words are learned from the text column of the shared SST-2 training split (a naive BPE, enough for the
files to be consistent: every merge's parts and result are in the vocabulary).

Usage: /usr/bin/python3 tests/reference/make_test_tokenizers.py ../shared/assets/tasks/sst2/16-13/train.tsv
"""
import collections
import json
import os
import re
import sys

N_MERGES = 150


def bytes_to_unicode():
    """GPT-2's map from the 256 byte values to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def learn_merges(texts, n_merges):
    b2u = bytes_to_unicode()
    words = collections.Counter()
    for t in texts:
        for w in re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+", t):
            words[tuple(b2u[b] for b in w.encode("utf-8"))] += 1
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[a, b] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    return merges


def write_bpe(d, merges, head, tail):
    os.makedirs(d, exist_ok=True)
    vocab = {}
    for s in head:
        vocab[s] = len(vocab)
    for ch in bytes_to_unicode().values():
        vocab[ch] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    for s in tail:
        vocab[s] = len(vocab)
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write("%s %s\n" % (a, b))
    return len(vocab)


def write_wordpiece(d, texts):
    os.makedirs(d, exist_ok=True)
    words = collections.Counter(w for t in texts for w in re.findall(r"[a-z]+", t.lower()))
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789") | set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars if c.isalnum()]
    vocab += [w for w, _ in words.most_common(150) if w not in vocab]
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    return len(vocab)


def main():
    texts = [line.split("\t")[0] for line in open(sys.argv[1], encoding="utf-8").read().splitlines()[1:]]
    texts += ["It was great .", "It was bad .", "This is World News", "Yes", "No", "Maybe"]
    merges = learn_merges(texts, N_MERGES)
    out = "tests/models/data"
    n_rob = write_bpe(out + "/roberta", merges, ["<s>", "<pad>", "</s>", "<unk>"], ["<mask>"])
    n_gpt = write_bpe(out + "/gpt2", merges, [], ["<|endoftext|>"])
    n_bert = write_wordpiece(out + "/bert", texts)
    print("roberta %d, gpt2 %d, bert %d tokens" % (n_rob, n_gpt, n_bert))


if __name__ == "__main__":
    main()
