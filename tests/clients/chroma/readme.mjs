// Usage: node readme.mjs CHROMA_URL
// README's "Chroma over HTTP" example, as printed there, against membed serve (whose /v1/embeddings embeds the texts).
// Prints {"ids": [...], "distances": [...]} of the query.
import { ChromaClient } from "chromadb";

const base = process.argv[2];
const embed = async texts => {
  const r = await fetch(`${base}/v1/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: texts }) });
  return (await r.json()).data.map(d => d.embedding);
};
const { hostname, port } = new URL(base);

// ---- README snippet (kept equal to README.md by ChromaClientTests)
const client = new ChromaClient({ host: "127.0.0.1", port: 8000 });
// ----
client.apiClient.setConfig({ baseUrl: `http://${hostname}:${port}` }); // the test's ephemeral port
// ---- README snippet
const collection = await client.getOrCreateCollection({
  name: "ml_knowledge_base", metadata: { "hnsw:space": "cosine" }, embeddingFunction: { generate: embed } });
await collection.add({ ids: ["doc1"], documents: ["Python is a high-level programming language."] });
const r = await collection.query({ queryTexts: ["What is Python?"], nResults: 1 });
// ----
process.stdout.write(JSON.stringify({ ids: r.ids[0], distances: r.distances[0] }));
