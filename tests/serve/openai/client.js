// tests/serve/openai/client.js — the official OpenAI Node client (npm "openai", pinned in package.json) against bbt serve.
// Usage: node client.js PORT API_KEY GOLDEN_PT
// 1. completions.create with echo + logprobs on text (the log-likelihood request of evaluation tools);
// 2. completions.create with prompt_embeds as an extra body field: the rows of BOS "Once upon a" saved by PyTorch
//    (goldens/once_upon_a_f32.pt), which must give the same next-token log-probabilities as the text route;
// 3. a wrong key is refused with the client's AuthenticationError.
// Exits 1 with a message on any mismatch.
"use strict";
const fs = require("fs");
const OpenAI = require("openai");

const [port, key, golden] = process.argv.slice(2);
const baseURL = `http://127.0.0.1:${port}/v1`;
const client = new OpenAI({ apiKey: key, baseURL, maxRetries: 0, timeout: 60000 });

function fail(msg) {
    console.error(`openai client: FAIL: ${msg}`);
    process.exit(1);
}

function close(a, b, what) {
    if (!(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b)))) fail(`${what}: ${a} vs ${b}`);
}

async function main() {
    const models = await client.models.list();
    if (models.data[0].id !== "stories260K") fail(`models.list gave ${JSON.stringify(models.data)}`);

    // 1. echo + logprobs on a text prompt, one generated token
    const text = await client.completions.create({
        model: "stories260K", prompt: "Once upon a", max_tokens: 1, temperature: 0, logprobs: 5, echo: true,
    });
    const ch = text.choices[0];
    if (ch.text !== "Once upon a time") fail(`echo text is ${JSON.stringify(ch.text)}`);
    const lp = ch.logprobs;
    if (lp.tokens.length !== 5 || lp.token_logprobs[0] !== null || lp.top_logprobs[0] !== null)
        fail(`echo logprobs have the wrong shape: ${JSON.stringify(lp)}`);
    if (lp.tokens.slice(1).join("") !== "Once upon a time") fail(`tokens ${JSON.stringify(lp.tokens)}`);
    for (let t = 1; t < 5; t++)
        if (!(lp.token_logprobs[t] < 0) || Object.keys(lp.top_logprobs[t]).length < 1) fail(`position ${t}: ${JSON.stringify(lp)}`);
    // the greedy token is the most likely one
    const last = lp.top_logprobs[4];
    const best = Math.max(...Object.values(last));
    close(lp.token_logprobs[4], best, "greedy token's logprob");

    // the same distribution as token ids, to compare with prompt_embeds below
    const ids = await client.completions.create({
        model: "stories260K", prompt: [[1, 403, 407, 261]], max_tokens: 1, temperature: 0, logprobs: 5,
        return_tokens_as_token_ids: true,
    });
    const want = ids.choices[0].logprobs.top_logprobs[0];

    // 2. prompt_embeds (vLLM's extra body field): PyTorch-saved rows of the same four tokens
    const embeds = fs.readFileSync(golden).toString("base64");
    const emb = await client.completions.create({
        model: "stories260K", max_tokens: 1, temperature: 0, logprobs: 5,
        return_tokens_as_token_ids: true,
        logprob_token_ids: Object.keys(want).map((k) => Number(k.split(":")[1])),
        prompt_embeds: [embeds],
    }).catch((e) => fail(`prompt_embeds request: ${e}`));
    const got = emb.choices[0].logprobs.top_logprobs[0];
    for (const k of Object.keys(want)) {
        if (!(k in got)) fail(`prompt_embeds answer lacks ${k}: ${JSON.stringify(got)}`);
        close(got[k], want[k], `prompt_embeds ${k}`);
    }
    if (emb.choices[0].logprobs.tokens[0] !== ids.choices[0].logprobs.tokens[0]) fail("different greedy tokens");

    // 3. a wrong key
    const wrong = new OpenAI({ apiKey: key + "x", baseURL, maxRetries: 0 });
    try {
        await wrong.completions.create({ model: "stories260K", prompt: "x", max_tokens: 1 });
        fail("a wrong key was accepted");
    } catch (e) {
        if (!(e instanceof OpenAI.AuthenticationError)) fail(`wrong key gave ${e}`);
    }
    console.log("openai client: completions (echo + logprobs, token ids, prompt_embeds) and the key check passed");
}

main().catch((e) => fail(e.stack || String(e)));
