// Usage: node tutorial.mjs PHASE CHROMA_URL EMBED_URL
//   PHASE "run": the tutorial's ChromaDB flow (seed post 97) translated line by line to the JS client, then its
//   Level 3 (a 240-document search engine with metadata, filters, a similarity threshold, update and delete);
//   PHASE "reopen": after the server restarted on the same directory, the data is still there.
// Prints a JSON array of {step, value} (the transcript the test compares between real Chroma and membed serve; distances
// to 1e-4) and a human-readable transcript on stderr. Embeddings come from membed's /v1/embeddings (all-MiniLM-L6-v2)
// through a custom embedding function, so both servers get the very same vectors.
import { ChromaClient } from "chromadb";

const [phase, chromaUrl, embedUrl] = process.argv.slice(2);
const url = new URL(chromaUrl);
const client = new ChromaClient({ host: url.hostname, port: Number(url.port) });
const steps = [];
const log = (step, value) => {
  steps.push({ step, value });
  process.stderr.write(`${step}: ${JSON.stringify(value)}\n`);
};

async function encode(texts) {
  const r = await fetch(`${embedUrl}/v1/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input: texts }),
  });
  if (!r.ok) throw new Error(`embeddings: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()).data.sort((a, b) => a.index - b.index).map(d => d.embedding);
}
// A custom embedding function (the client's default one downloads a model).
const embeddingFunction = { generate: encode };

async function errorName(fn) {
  try {
    await fn();
    return "no error";
  } catch (e) {
    return e.name;
  }
}

// ---------------------------------------------------------------------- Level 3 corpus (deterministic)
const categories = ["ml", "nlp", "vision", "databases", "programming", "security"];
const authors = ["alice", "bob", "carol", "dave"];
const subjects = {
  ml: ["gradient descent", "decision trees", "overfitting", "cross-validation", "feature scaling"],
  nlp: ["tokenization", "transformers", "word embeddings", "named entity recognition", "machine translation"],
  vision: ["convolutional networks", "image segmentation", "object detection", "data augmentation", "optical flow"],
  databases: ["indexing", "transactions", "query planning", "replication", "vector search"],
  programming: ["recursion", "unit testing", "garbage collection", "type systems", "concurrency"],
  security: ["encryption", "authentication", "phishing", "access control", "threat modeling"],
};
const frames = [
  s => `An introduction to ${s} for beginners.`,
  s => `Common mistakes people make with ${s} in production.`,
  s => `How ${s} works under the hood, explained step by step.`,
  s => `A practical checklist for ${s} in real projects.`,
  s => `Why ${s} matters and when to avoid it.`,
  s => `Benchmarks and trade-offs of ${s} compared with alternatives.`,
  s => `Frequently asked questions about ${s}.`,
  s => `A short history of ${s} and where it is going.`,
];
function corpus() {
  const docs = [];
  let i = 0;
  for (const frame of frames) {
    for (const category of categories) {
      for (const subject of subjects[category]) {
        const id = `doc-${String(i).padStart(3, "0")}`;
        docs.push({
          id,
          text: frame(subject),
          metadata: {
            category,
            author: authors[i % authors.length],
            date: 20230101 + (i % 24) * 100 + (i % 28),
            year: 2023 + (i % 3),
            rating: Math.round(((i * 37) % 50) / 10 * 10) / 10,
            featured: i % 7 === 0,
          },
        });
        i++;
      }
    }
  }
  return docs;
}

function byDistance(r) {
  return r.ids[0].map((id, k) => ({ id, distance: r.distances[0][k] }));
}

// ---------------------------------------------------------------------- the tutorial's ChromaDB flow
async function tutorial() {
  log("heartbeat is a number", typeof (await client.heartbeat()) === "number");
  // client.create_collection(name='ml_knowledge_base', metadata={'hnsw:space': 'cosine'})
  const collection = await client.createCollection({ name: "ml_knowledge_base", metadata: { "hnsw:space": "cosine" }, embeddingFunction });
  const docs = [
    { id: "doc1", text: "Python is a high-level programming language known for simplicity.", metadata: { topic: "programming", difficulty: "beginner" } },
    { id: "doc2", text: "Machine learning algorithms learn patterns from data.", metadata: { topic: "ml", difficulty: "intermediate" } },
    { id: "doc3", text: "Neural networks are inspired by biological neural networks.", metadata: { topic: "deep learning", difficulty: "intermediate" } },
    { id: "doc4", text: "BERT is a bidirectional transformer pretrained on MLM.", metadata: { topic: "nlp", difficulty: "advanced" } },
    { id: "doc5", text: "LoRA reduces trainable parameters using low-rank decomposition.", metadata: { topic: "fine tuning", difficulty: "advanced" } },
  ];
  await collection.add({
    ids: docs.map(d => d.id),
    documents: docs.map(d => d.text),
    embeddings: await encode(docs.map(d => d.text)),
    metadatas: docs.map(d => d.metadata),
  });
  log("tutorial: collection size", await collection.count());

  const results = await collection.query({ queryEmbeddings: await encode(["How do transformers work?"]), nResults: 3 });
  log("tutorial: query 'How do transformers work?'", results.documents[0].map((doc, i) => ({ similarity: 1 - results.distances[0][i], doc })));

  const filtered = await collection.query({ queryEmbeddings: await encode(["machine learning concepts"]), nResults: 3, where: { difficulty: "advanced" } });
  log("tutorial: query with filter difficulty=advanced", filtered.documents[0].map((doc, i) => ({ topic: filtered.metadatas[0][i].topic, doc })));

  await collection.update({
    ids: ["doc1"],
    documents: ["Python is a versatile high-level programming language."],
    embeddings: await encode(["Python is a versatile high-level programming language."]),
  });
  await collection.delete({ ids: ["doc5"] });
  log("tutorial: after update and delete", await collection.count());
  const doc1 = await collection.get({ ids: ["doc1"] });
  log("tutorial: doc1 after update", { documents: doc1.documents, metadatas: doc1.metadatas });
}

// ---------------------------------------------------------------------- Level 3
async function level3() {
  const docs = corpus();
  const collection = await client.getOrCreateCollection({ name: "level3_articles", metadata: { "hnsw:space": "cosine", purpose: "level 3" }, embeddingFunction });
  for (let start = 0; start < docs.length; start += 100) {
    const batch = docs.slice(start, start + 100);
    await collection.add({ ids: batch.map(d => d.id), documents: batch.map(d => d.text), metadatas: batch.map(d => d.metadata) });
  }
  log("level3: count", await collection.count());
  const again = await client.getOrCreateCollection({ name: "level3_articles", embeddingFunction });
  log("level3: get_or_create returns the same collection", { sameId: again.id === collection.id, metadata: again.metadata });

  const semantic = await collection.query({ queryTexts: ["how do neural networks learn from images?"], nResults: 5 });
  log("level3: semantic search", byDistance(semantic));

  const inCategory = await collection.query({ queryTexts: ["keeping attackers out of accounts"], nResults: 5, where: { category: "security" } });
  log("level3: category security, similar to 'keeping attackers out of accounts'", byDistance(inCategory));

  const combined = await collection.query({
    queryTexts: ["speeding up database lookups", "splitting text into pieces"],
    nResults: 4,
    where: { $and: [{ category: { $in: ["databases", "nlp"] } }, { date: { $gte: 20230601 } }, { author: { $ne: "dave" } }] },
    include: ["distances", "metadatas", "documents"],
  });
  log("level3: two queries, $and/$in/$gte/$ne", combined.ids.map((ids, q) => ids.map((id, k) => ({ id, distance: combined.distances[q][k], author: combined.metadatas[q][k].author }))));

  const docFilter = await collection.query({ queryTexts: ["mistakes to avoid"], nResults: 6, whereDocument: { $contains: "production" }, where: { $or: [{ year: 2024 }, { featured: true }] } });
  log("level3: where_document $contains + $or", byDistance(docFilter));

  // The tutorial's threshold function: results at or above a similarity, everything below rejected.
  async function searchAbove(query, threshold, where) {
    const r = await collection.query({ queryTexts: [query], nResults: 50, where });
    return r.ids[0].map((id, k) => ({ id, similarity: 1 - r.distances[0][k] })).filter(x => x.similarity >= threshold);
  }
  log("level3: threshold 0.6 'vector search indexing'", await searchAbove("vector search indexing", 0.6));
  log("level3: threshold 0.5 'unit testing', programming only", await searchAbove("unit testing", 0.5, { category: "programming" }));
  log("level3: threshold 0.95 nothing passes", await searchAbove("a recipe for banana bread", 0.95));

  const page = await collection.get({ where: { rating: { $gt: 3.5 } }, limit: 5, offset: 2 });
  log("level3: get rating>3.5 limit 5 offset 2", { ids: page.ids, ratings: page.metadatas.map(m => m.rating) });
  const nin = await collection.get({ where: { $and: [{ author: { $nin: ["alice", "bob"] } }, { rating: { $lte: 0.5 } }] }, include: ["metadatas"] });
  log("level3: get $nin/$lte", { ids: nin.ids, authors: nin.metadatas.map(m => m.author) });
  const notContains = await collection.get({ whereDocument: { $not_contains: "a" }, include: ["documents"] });
  log("level3: get $not_contains 'a'", notContains.ids);

  await collection.update({ ids: ["doc-005"], documents: ["Gradient boosting builds an ensemble of shallow trees."], metadatas: [{ category: "ml", rating: 4.9, reviewed: true }] });
  const updated = await collection.get({ ids: ["doc-005"] });
  log("level3: doc-005 after update", { documents: updated.documents, metadatas: updated.metadatas });
  const boosted = await collection.query({ queryTexts: ["ensembles of trees"], nResults: 1 });
  log("level3: the updated document is found by its new text", byDistance(boosted));

  await collection.upsert({ ids: ["doc-006", "doc-new"], documents: ["Upserted: a guide to regularization.", "A brand new article on retrieval augmented generation."], metadatas: [{ category: "ml" }, { category: "nlp", author: "erin", rating: 5 }] });
  const upserted = await collection.get({ ids: ["doc-006", "doc-new"], include: ["documents", "metadatas"] });
  log("level3: upsert (one existing, one new)", { ids: upserted.ids, documents: upserted.documents, metadatas: upserted.metadatas });

  await collection.delete({ where: { author: "carol" } });
  log("level3: count after deleting author carol", await collection.count());
  await collection.delete({ ids: ["doc-000", "doc-001", "no-such-id"] });
  log("level3: count after deleting two ids", await collection.count());
  await collection.delete({ whereDocument: { $contains: "history" } });
  log("level3: count after deleting documents containing 'history'", await collection.count());
  await collection.add({ ids: ["doc-003"], documents: ["Added again: this id already exists."] });
  const dup = await collection.get({ ids: ["doc-003"] });
  log("level3: add of an existing id is ignored", dup.documents);
  await collection.update({ ids: ["no-such-id"], documents: ["nothing to update"] });
  log("level3: update of a missing id is ignored", await collection.count());

  // Errors: the same classes from both servers.
  log("errors: duplicate collection name", await errorName(() => client.createCollection({ name: "level3_articles", embeddingFunction })));
  log("errors: unknown collection", await errorName(() => client.getCollection({ name: "no_such_collection", embeddingFunction })));
  log("errors: delete unknown collection", await errorName(() => client.deleteCollection({ name: "no_such_collection" })));
  log("errors: dimension mismatch on add", await errorName(() => collection.add({ ids: ["short"], embeddings: [[0.1, 0.2, 0.3]] })));
  log("errors: dimension mismatch on query", await errorName(() => collection.query({ queryEmbeddings: [[0.1, 0.2, 0.3]] })));
  log("errors: invalid collection name", await errorName(() => client.createCollection({ name: "a/../b", embeddingFunction })));
  log("errors: invalid where operator", await errorName(() => collection.get({ where: { rating: { $near: 3 } } })));

  // Management: list, count, modify, delete.
  const scratch = await client.createCollection({ name: "scratch-l2", embeddingFunction });
  await scratch.add({ ids: ["a", "b", "c"], embeddings: [[1, 0, 0], [0, 2, 0], [0, 0, 3]], documents: ["x", "y", "z"] });
  const l2 = await scratch.query({ queryEmbeddings: [[1, 1, 0]], nResults: 3, include: ["distances", "embeddings"] });
  log("management: l2 space (default) squared distances", { ids: l2.ids[0], distances: l2.distances[0], embeddings: l2.embeddings[0] });
  const ipc = await client.createCollection({ name: "scratch-ip", configuration: { hnsw: { space: "ip" } }, embeddingFunction });
  await ipc.add({ ids: ["a", "b"], embeddings: [[0.6, 0.8], [1, 0]] });
  const ipr = await ipc.query({ queryEmbeddings: [[0.5, 0.5]], nResults: 2 });
  log("management: ip space", byDistance(ipr));
  log("management: configuration space", { l2: scratch.configuration?.hnsw?.space ?? null, ip: ipc.configuration?.hnsw?.space ?? null });
  await scratch.modify({ name: "scratch-renamed", metadata: { note: "renamed" } });
  const renamed = await client.getCollection({ name: "scratch-renamed", embeddingFunction });
  log("management: renamed", { sameId: renamed.id === scratch.id, metadata: renamed.metadata, count: await renamed.count() });
  log("management: old name is gone", await errorName(() => client.getCollection({ name: "scratch-l2", embeddingFunction })));
  log("management: collections", (await client.listCollections()).map(c => c.name).sort());
  log("management: collection count", await client.countCollections());
  await client.deleteCollection({ name: "scratch-ip" });
  log("management: after delete", (await client.listCollections()).map(c => c.name).sort());
  log("management: peek", (await renamed.peek({ limit: 2 })).ids);
}

// ---------------------------------------------------------------------- after a restart
async function reopen() {
  log("reopen: collections", (await client.listCollections()).map(c => c.name).sort());
  const tutorialCollection = await client.getCollection({ name: "ml_knowledge_base", embeddingFunction });
  log("reopen: tutorial count", await tutorialCollection.count());
  log("reopen: tutorial metadata", tutorialCollection.metadata);
  const collection = await client.getCollection({ name: "level3_articles", embeddingFunction });
  log("reopen: level3 count", await collection.count());
  const semantic = await collection.query({ queryTexts: ["how do neural networks learn from images?"], nResults: 5 });
  log("reopen: semantic search", byDistance(semantic));
  const updated = await collection.get({ ids: ["doc-005", "doc-new", "doc-000"] });
  log("reopen: updated records", { ids: updated.ids, documents: updated.documents, metadatas: updated.metadatas });
  const filtered = await collection.get({ where: { category: "security" }, include: [] });
  log("reopen: security ids", filtered.ids);
  await collection.add({ ids: ["after-restart"], documents: ["Written after the restart."], metadatas: [{ category: "ml" }] });
  log("reopen: count after a write", await collection.count());
}

try {
  if (phase === "run") {
    await tutorial();
    await level3();
  } else if (phase === "reopen") {
    await reopen();
  } else throw new Error(`unknown phase '${phase}'`);
  process.stdout.write(JSON.stringify(steps));
} catch (e) {
  process.stdout.write(JSON.stringify({ failed: `${e.name}: ${e.message}`, steps }));
  process.exitCode = 3;
}
