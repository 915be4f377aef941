// Usage: node hnsw.mjs PHASE CHROMA_URL
//   PHASE "run": HNSW collections through the official client: one configured by Chroma's `configuration.hnsw`
//   (cosine, max_neighbors 16, ef_construction 100, ef_search 100), one by the legacy `hnsw:*` metadata keys (l2, M 8,
//   construction_ef 64, search_ef 32); 3,000 clustered 32-d vectors each, 100 queries, then ef_search raised through
//   modify; PHASE "reopen": after a restart the settings, counts and answers are still there.
// Prints {"steps": [...], "recall": {...}}. The steps (configurations as read back, counts, ids fetched by id, the
// exact nearest neighbour of vectors that are in the collection) must be equal between real Chroma and membed serve;
// the recall@10 figures (against an exact top-10 computed here in double precision) differ between two HNSW graphs,
// so the test bounds them instead of comparing them.
import { ChromaClient } from "chromadb";

const [phase, chromaUrl] = process.argv.slice(2);
const url = new URL(chromaUrl);
const client = new ChromaClient({ host: url.hostname, port: Number(url.port) });
const steps = [];
const recall = {};
const log = (step, value) => {
  steps.push({ step, value });
  process.stderr.write(`${step}: ${JSON.stringify(value)}\n`);
};

// ---------------------------------------------------------------------- deterministic clustered data
const N = 3000, DIM = 32, CLUSTERS = 30, NQ = 100, K = 10;
let seed = 20261202;
const uniform = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return (seed + 0.5) / 4294967296; };
const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
const centers = Array.from({ length: CLUSTERS }, () => Array.from({ length: DIM }, gauss));
const point = i => centers[i % CLUSTERS].map(c => c + 0.35 * gauss());
const data = Array.from({ length: N }, (_, i) => point(i));
const queries = Array.from({ length: NQ }, (_, i) => point(i * 7 + 3));
const ids = data.map((_, i) => `v${String(i).padStart(4, "0")}`);

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = a => Math.sqrt(dot(a, a));
// Chroma's distances: cosine = 1 - cos, l2 = squared euclidean (smaller is nearer).
const distance = {
  cosine: (a, b) => 1 - dot(a, b) / (norm(a) * norm(b)),
  l2: (a, b) => a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0),
};
const exactTop = (space, q) =>
  data.map((v, i) => [distance[space](q, v), i]).sort((x, y) => x[0] - y[0] || x[1] - y[1]).slice(0, K).map(x => ids[x[1]]);

async function recallOf(collection, space) {
  const r = await collection.query({ queryEmbeddings: queries, nResults: K, include: ["distances"] });
  let hits = 0;
  queries.forEach((q, i) => {
    const truth = new Set(exactTop(space, q));
    hits += r.ids[i].filter(id => truth.has(id)).length;
  });
  return hits / (NQ * K);
}

// The nearest neighbour of a vector stored in the collection is itself (distance 0): exact in any graph that finds it.
async function selfHits(collection) {
  const probe = [0, 517, 1499, 2999];
  const r = await collection.query({ queryEmbeddings: probe.map(i => data[i]), nResults: 1, include: ["distances"] });
  return { ids: r.ids.map(x => x[0]), distances: r.distances.map(x => Math.round(x[0] * 1e4) / 1e4) };
}

const hnswOf = c => {
  const h = c.configuration?.hnsw ?? {};
  return { space: h.space ?? null, max_neighbors: h.max_neighbors ?? null, ef_construction: h.ef_construction ?? null, ef_search: h.ef_search ?? null };
};

const specs = [
  { name: "hnsw-configured", space: "cosine", create: { configuration: { hnsw: { space: "cosine", max_neighbors: 16, ef_construction: 100, ef_search: 100 } } } },
  { name: "hnsw-legacy-metadata", space: "l2", create: { metadata: { "hnsw:space": "l2", "hnsw:M": 8, "hnsw:construction_ef": 64, "hnsw:search_ef": 32 } } },
];

async function run() {
  for (const s of specs) {
    const c = await client.createCollection({ name: s.name, embeddingFunction: null, ...s.create });
    log(`${s.name}: configuration at create`, hnswOf(c));
    for (let b = 0; b < N; b += 500)
      await c.add({ ids: ids.slice(b, b + 500), embeddings: data.slice(b, b + 500), metadatas: ids.slice(b, b + 500).map((_, i) => ({ cluster: (b + i) % CLUSTERS })) });
    log(`${s.name}: count`, await c.count());
    log(`${s.name}: nearest to stored vectors`, await selfHits(c));
    recall[`${s.name}: before modify`] = await recallOf(c, s.space);
    const filtered = await c.query({ queryEmbeddings: [queries[0]], nResults: 5, where: { cluster: 3 }, include: [] });
    log(`${s.name}: filtered query returns only the cluster`, filtered.ids[0].every(id => Number(id.slice(1)) % CLUSTERS === 3) && filtered.ids[0].length === 5);
    await c.modify({ configuration: { hnsw: { ef_search: 200 } } });
    const again = await client.getCollection({ name: s.name, embeddingFunction: null });
    log(`${s.name}: configuration after modify`, hnswOf(again));
    recall[`${s.name}: after modify`] = await recallOf(again, s.space);
    await again.delete({ ids: ids.slice(0, 30) });
    const afterDelete = await again.query({ queryEmbeddings: data.slice(0, 30), nResults: K, include: [] });
    log(`${s.name}: deleted ids never come back`, afterDelete.ids.every(r => r.every(id => Number(id.slice(1)) >= 30)));
    log(`${s.name}: count after delete`, await again.count());
  }
}

async function reopen() {
  for (const s of specs) {
    const c = await client.getCollection({ name: s.name, embeddingFunction: null });
    log(`${s.name}: reopen configuration`, hnswOf(c));
    log(`${s.name}: reopen count`, await c.count());
    log(`${s.name}: reopen nearest to stored vectors`, await selfHits(c));
    const got = await c.get({ ids: ["v0000", "v0031", "v2999"], include: ["metadatas"] });
    log(`${s.name}: reopen get by id`, { ids: got.ids, metadatas: got.metadatas });
    // Exact truth without the 30 deleted vectors.
    const r = await c.query({ queryEmbeddings: queries, nResults: K, include: [] });
    let hits = 0;
    queries.forEach((q, i) => {
      const truth = new Set(data.map((v, j) => [distance[s.space](q, v), j]).filter(x => x[1] >= 30)
        .sort((x, y) => x[0] - y[0] || x[1] - y[1]).slice(0, K).map(x => ids[x[1]]));
      hits += r.ids[i].filter(id => truth.has(id)).length;
    });
    recall[`${s.name}: after restart`] = hits / (NQ * K);
  }
}

if (phase === "run") await run();
else if (phase === "reopen") await reopen();
else throw new Error(`unknown phase ${phase}`);
process.stdout.write(JSON.stringify({ steps, recall }));
