// Usage: node embed.mjs BASE_URL MODEL DIMENSIONS TEXT...   (DIMENSIONS 0: the model's width)
// Prints {"embeddings": [[...], ...], "prompt_tokens": N, "model": "..."} using the official openai package.
import OpenAI from "openai";

const [baseURL, model, dims, ...input] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const request = { model, input };
if (Number(dims) > 0) request.dimensions = Number(dims);
try {
  const r = await client.embeddings.create(request);
  process.stdout.write(JSON.stringify({
    embeddings: r.data.sort((a, b) => a.index - b.index).map(d => d.embedding),
    prompt_tokens: r.usage.prompt_tokens,
    model: r.model,
  }));
} catch (e) {
  // The SDK's error object: its HTTP status and the server's error envelope.
  process.stdout.write(JSON.stringify({ status: e.status ?? null, error: e.error ?? String(e) }));
  process.exitCode = 3;
}
