// Usage: node load.mjs CHROMA_URL RECORDS [DIM=384] [QUERIES=300] [CONCURRENCY=8]
// A bounded load test through the official client: adds RECORDS random unit vectors (with a metadata field) in
// batches of 1000, then runs QUERIES single queries (n_results 10) one at a time (latency p50/p99) and the same
// number again from CONCURRENCY clients at once (throughput). Prints one JSON line. Used for BENCHMARKS.md.
import { ChromaClient } from "chromadb";

const [base, recordsText, dimText = "384", queriesText = "300", concText = "8"] = process.argv.slice(2);
const N = Number(recordsText), DIM = Number(dimText), Q = Number(queriesText), C = Number(concText);
const url = new URL(base);
let seed = 12345;
const rand = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296 - 0.5; };
const vec = () => {
  const v = Array.from({ length: DIM }, rand);
  const n = Math.hypot(...v);
  return v.map(x => x / n);
};
const client = new ChromaClient({ host: url.hostname, port: Number(url.port) });
const collection = await client.createCollection({ name: `load-${N}`, metadata: { "hnsw:space": "cosine" }, embeddingFunction: null });

const t0 = performance.now();
for (let start = 0; start < N; start += 1000) {
  const n = Math.min(1000, N - start);
  const ids = Array.from({ length: n }, (_, i) => `r${start + i}`);
  await collection.add({ ids, embeddings: ids.map(vec), metadatas: ids.map((_, i) => ({ bucket: (start + i) % 10 })) });
}
const addSeconds = (performance.now() - t0) / 1000;

const queries = Array.from({ length: Q }, vec);
const lat = [];
for (const q of queries) {
  const s = performance.now();
  await collection.query({ queryEmbeddings: [q], nResults: 10 });
  lat.push(performance.now() - s);
}
lat.sort((a, b) => a - b);
const pct = p => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];

let next = 0;
const t1 = performance.now();
await Promise.all(Array.from({ length: C }, async () => {
  while (next < Q) {
    const q = queries[next++];
    await collection.query({ queryEmbeddings: [q], nResults: 10, where: { bucket: { $ne: 3 } } });
  }
}));
const concSeconds = (performance.now() - t1) / 1000;
process.stdout.write(JSON.stringify({
  records: N, dim: DIM, count: await collection.count(),
  add_records_per_s: Math.round(N / addSeconds),
  query_p50_ms: +pct(0.5).toFixed(2), query_p99_ms: +pct(0.99).toFixed(2),
  filtered_queries_per_s_concurrent: Math.round(Q / concSeconds), concurrency: C,
}) + "\n");
