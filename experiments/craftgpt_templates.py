#!/usr/bin/python3
"""Choose CraftGPT-5M's chat-form template and label words per task on TRAIN and DEV data only (never test).

For each shipped task, every candidate (template × label words) below is scored by build/template_scores with the
untuned model and no soft prompt, on the train.tsv and dev.tsv of every few-shot split the assets ship (16-13, 16-21,
16-42, 16-87, 16-100: 32..224 examples per split file). The candidate with the lowest mean cross-entropy over all
those examples wins (the loss BBT minimises; ties: the higher accuracy). Cross-entropy rather than accuracy or MRPC's
F1: on a few hundred balanced examples accuracy moves in steps of 0.3 % and a template that always answers one class
scores 0.50 (F1 0.67) while knowing nothing, which cross-entropy punishes. The winner is written to experiments/tasks/craftgpt/TASK.json, the
whole table to experiments/tasks/craftgpt/SELECTION.md (only the tasks of this run: run all of them to rewrite it), with
the number of examples the length rule shortens (no prompt, and with L prompt positions) on train, dev and test —
counted, not scored: test is never scored here.

    /usr/bin/python3 experiments/craftgpt_templates.py [--model DIR] [--count-lens 0,4,8,16] [--tasks sst2,rte]
                                                       [--threads N] [--out DIR]

Run from the repository root after `make` (needs build/template_scores).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SEEDS = [13, 21, 42, 87, 100]
PAIR = {"mrpc", "rte", "snli"}
META = {
    "sst2": dict(description="SST-2 sentiment, CraftGPT-5M chat form", label_names=None),
    "agnews": dict(description="AG News topic, CraftGPT-5M chat form", label_names=None),
    "dbpedia": dict(description="DBpedia-14 ontology class, CraftGPT-5M chat form", label_names=None),
    "mrpc": dict(description="MRPC paraphrase (F1 of class 1), CraftGPT-5M chat form", metric="f1", positive_class=1),
    "rte": dict(description="RTE entailment (class 0 = entailment), CraftGPT-5M chat form"),
    "snli": dict(description="SNLI entailment / neutral / contradiction, CraftGPT-5M chat form"),
}

# Candidates: templates in the chat format ("[inst] user text [/inst] reply"), the reply cut at <mask>; label words in
# class order (the task's classes: bbt tasks). The soft prompt goes right after "[inst]" (with_prompt); it is not used
# when scoring (no prompt), and a template split at {prompt} gives the same tokens as without it.
CANDIDATES = {
    "sst2": (
        ["[inst] {text} [/inst] i feel <mask>",
         "[inst] {text} [/inst] it was <mask>",
         "[inst] {text} [/inst] that sounds <mask>",
         "[inst] {text} how do you feel? [/inst] i feel <mask>",
         "[inst] is this movie review good or bad? {text} [/inst] it is <mask>"],
        [["sad", "happy"], ["bad", "good"], ["terrible", "great"], ["awful", "wonderful"], ["upset", "excited"]],
    ),
    "agnews": (
        ["[inst] {text} [/inst] this is about <mask>",
         "[inst] what is this news about? {text} [/inst] it is about <mask>",
         "[inst] {text} [/inst] this news is about <mask>"],
        [["world", "sports", "business", "technology"], ["war", "game", "money", "science"],
         ["country", "team", "market", "technology"], ["people", "games", "company", "science"]],
    ),
    "dbpedia": (
        ["[inst] {text} [/inst] this is about a <mask>",
         "[inst] what is this about? {text} [/inst] it is a <mask>",
         "[inst] {text} [/inst] it is a <mask>"],
        [["company", "school", "artist", "athlete", "politician", "transportation", "building", "nature", "village",
          "animal", "plant", "album", "film", "book"],
         ["company", "school", "artist", "player", "office", "car", "building", "place", "town", "animal", "tree",
          "music", "movie", "book"],
         ["company", "education", "artist", "team", "people", "transport", "house", "natural", "village", "animal",
          "plant", "song", "film", "written"]],
    ),
    "mrpc": (
        ["[inst] {text_a} does that mean {text_b}? [/inst] <mask>",
         "[inst] {text_a} is this the same as {text_b}? [/inst] <mask>",
         "[inst] {text_a} [/inst] {text_b}? <mask>",
         "[inst] do these say the same thing? {text_a} and {text_b} [/inst] <mask>"],
        [["no", "yes"], ["different", "same"], ["false", "true"]],
    ),
    "rte": (
        ["[inst] {text_a} is it true that {text_b}? [/inst] <mask>",
         "[inst] {text_a} does that mean {text_b}? [/inst] <mask>",
         "[inst] {text_a} [/inst] {text_b}? <mask>"],
        [["yes", "no"], ["true", "false"], ["yes", "not"]],
    ),
    "snli": (
        ["[inst] {text_a} is it true that {text_b}? [/inst] <mask>",
         "[inst] {text_a} does that mean {text_b}? [/inst] <mask>",
         "[inst] {text_a} [/inst] {text_b}? <mask>"],
        [["yes", "maybe", "no"], ["true", "maybe", "false"]],
    ),
}


def with_prompt(template):
    """The soft prompt's place: right after the opening [inst] (the model always starts a conversation with it)."""
    return template if "{prompt}" in template else template.replace("[inst] ", "[inst] {prompt} ", 1)


def task_json(task, template, words):
    t = {"name": task, "description": META[task]["description"], "template": with_prompt(template), "label_words": words,
         "columns": {"text_a": "text_a", "text_b": "text_b", "label": "label"} if task in PAIR
         else {"text": "text", "label": "label"}}
    if "metric" in META[task]:
        t["metric"], t["positive_class"] = META[task]["metric"], META[task]["positive_class"]
    return t


def run_scores(args, task_file, files, prompt_len, label_sets_file=None, count_only=False):
    cmd = [args.bin, "--model", args.model, "--task-file", task_file, "--prompt-len", str(prompt_len), "--threads",
           str(args.threads)] + (["--label-sets-file", label_sets_file] if label_sets_file else []) + \
          (["--count-only"] if count_only else []) + files
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def pooled(rows):
    n = sum(r["n"] for r in rows)
    return dict(n=n, acc=sum(r["acc"] * r["n"] for r in rows) / n, ce=sum(r["ce"] * r["n"] for r in rows) / n,
                f1=sum(r["f1"] * r["n"] for r in rows) / n)


def choose(args, task, tmp):
    tdir = os.path.join(args.assets, "tasks", task)
    train = [os.path.join(tdir, "16-%d" % s, "train.tsv") for s in SEEDS]
    dev = [os.path.join(tdir, "16-%d" % s, "dev.tsv") for s in SEEDS]
    templates, word_sets = CANDIDATES[task]
    results = []
    for template in templates:
        # one run per template: every label-word set read from the same forward passes (--label-sets-file)
        path, sets = os.path.join(tmp, "%s.json" % task), os.path.join(tmp, "%s-sets.json" % task)
        with open(path, "w") as f:
            json.dump(task_json(task, template, word_sets[0]), f)
        with open(sets, "w") as f:
            json.dump(word_sets, f)
        rows = run_scores(args, path, train + dev, 0, sets)
        for k, words in enumerate(word_sets):
            mine = [r for r in rows if r["set"] == k]
            tr, dv = pooled(mine[:len(train)]), pooled(mine[len(train):])
            both = pooled(mine)
            results.append(dict(template=with_prompt(template), words=words, train=tr, dev=dv, all=both))
            print("%-7s acc %.3f ce %.3f  train %.3f dev %.3f  %s  %s" % (task, both["acc"], both["ce"], tr["acc"],
                  dv["acc"], template, "/".join(words)), file=sys.stderr)
    best = min(results, key=lambda r: (r["all"]["ce"], -r["all"]["acc"]))
    # length rule: counted on every split (test only counted), with no prompt and with L prompt positions
    path = os.path.join(tmp, "%s.json" % task)
    with open(path, "w") as f:
        json.dump(task_json(task, best["template"], best["words"]), f)
    counts = {}  # split -> {"n": examples, L: shortened with L prompt positions (L = 0: no prompt)}
    for split, files in (("train", train), ("dev", dev), ("test", [os.path.join(tdir, "test.tsv")])):
        counts[split] = {}
        for L in args.count_lens:
            rows = run_scores(args, path, files, L, count_only=True)
            counts[split]["n"] = sum(r["n"] for r in rows)
            counts[split][L] = sum(r["truncated_L"] for r in rows)
    return results, best, counts


def write_outputs(args, chosen):
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scores.json"), "w") as f:
        json.dump({task: dict(results=results, counts=counts) for task, (results, best, counts) in chosen.items()}, f,
                  indent=1)
        f.write("\n")
    for task, (results, best, counts) in chosen.items():
        with open(os.path.join(args.out, "%s.json" % task), "w") as f:
            json.dump(task_json(task, best["template"], best["words"]), f, indent=1)
            f.write("\n")
    lines = ["# CraftGPT-5M templates, chosen on train + dev only", "",
             "Written by `/usr/bin/python3 experiments/craftgpt_templates.py` (model %s). Each candidate "
             "is scored with the untuned model and no soft prompt on the train and dev files of the splits 16-%s "
             "(pooled); the lowest mean cross-entropy wins (ties: higher accuracy). Test data is never scored; its examples "
             "are only counted for the length rule." % (args.model, ", 16-".join(map(str, SEEDS))), ""]
    for task, (results, best, counts) in chosen.items():
        lines += ["## %s" % task, "",
                  "| template | label words | train acc | dev acc | train+dev acc | train+dev CE | train+dev F1 (class 1) |",
                  "|---|---|---|---|---|---|---|"]
        for r in sorted(results, key=lambda r: r["all"]["ce"]):
            mark = "**" if r is best else ""
            lines.append("| %s`%s`%s | %s | %.3f | %.3f | %.3f | %s%.3f%s | %.3f |" % (
                mark, r["template"], mark, "/".join(r["words"]), r["train"]["acc"], r["dev"]["acc"], r["all"]["acc"],
                mark, r["all"]["ce"], mark, r["all"]["f1"]))
        lines += ["", "Chosen: `%s` with %s (%d train + %d dev examples)." % (
            best["template"], "/".join(best["words"]), best["train"]["n"], best["dev"]["n"]), "",
            "Examples shortened by the length rule (context 64) with L prompt positions (L = 0: no prompt):", "",
            "| split | examples | " + " | ".join("L = %d" % L for L in args.count_lens) + " |",
            "|---|---|" + "---|" * len(args.count_lens)]
        for split, c in counts.items():
            lines.append("| %s | %d | " % (split, c["n"]) + " | ".join(
                "%d (%.0f%%)" % (c[L], 100.0 * c[L] / c["n"]) for L in args.count_lens) + " |")
        lines.append("")
    with open(os.path.join(args.out, "SELECTION.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="../shared/assets/models/craftgpt-5M")
    ap.add_argument("--assets", default="../shared/assets")
    ap.add_argument("--bin", default="build/template_scores")
    ap.add_argument("--out", default="experiments/tasks/craftgpt")
    ap.add_argument("--count-lens", default="0,4,8,16", help="prompt lengths L for the truncation counts")
    ap.add_argument("--tasks", default=",".join(CANDIDATES))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    args.count_lens = [int(x) for x in args.count_lens.split(",")]
    chosen = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            chosen[task] = choose(args, task, tmp)
    write_outputs(args, chosen)


if __name__ == "__main__":
    main()
